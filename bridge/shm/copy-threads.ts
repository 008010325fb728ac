// A small pool of worker threads (node:worker_threads) that copy grant mode's damage
// spans off the event loop: one client's big commit no longer delays every other
// client's messages. The threads see the memory the main thread maps (one address
// space); the caller keeps that memory and any fd it names valid until the copy's
// promise settles (grant-mode.ts).
//
// What the event loop pays per copy is kept to a few µs, because a burst of commits
// arrives in one wake-up, ahead of whatever other clients sent (issue 10: a sync sent
// right after 64 clients' commits waited for every one of them to be handed off).
// copy() only queues the job; once the loop has read everything that was ready
// (setImmediate), the queued jobs go out, one message per thread for all of them. A
// job is split between threads only while some of them are idle: a lone big frame is
// shared, a burst gives each thread whole frames (one hand-off each, none left idle).

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { type ByteRange, type Span, spanBytes, splitSpans } from './copy.js';
import type { CopyJobMessage, CopyResultMessage } from './copy-worker.js';

export type CopyTarget = CopyJobMessage['target'];

/** What a copy did, all its shares together (copy-worker.ts, CopyOutcome). */
export interface CopyResult {
  /** Bytes it meant to copy: the spans without the client's holes. */
  wanted: number;
  copied: number;
  /** The client's holes it found and did not read: the caller discards them. */
  holes: ByteRange[];
}

/** A share of a split copy is never smaller than this (a thread hand-off costs ~50 µs). */
const MIN_SHARE_BYTES = 1 << 20;

interface Pending {
  resolve(result: CopyResult): void;
  reject(err: Error): void;
  /** Shares posted and not yet answered. */
  parts: number;
  readonly result: CopyResult;
  failed: Error | undefined;
}

interface Queued {
  readonly id: number;
  readonly spans: readonly Span[];
  readonly target: CopyTarget;
  readonly holesFd: number | undefined;
}

interface Thread {
  readonly worker: Worker;
  /** Bytes posted to it and not yet copied: where the next share goes. */
  queued: number;
  /** Job id → bytes of that share, to take off `queued` when it is done. */
  readonly shares: Map<number, number>;
}

/** The default: as many threads as CPUs, at most four (copies are memory-bound). */
export function defaultCopyThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

const shared = new Map<number, CopyThreads>();

/**
 * The process's pool of `count` copy threads, made on first use and never closed: its
 * threads start at the first copy and do not keep the process alive. Bridges in one
 * process share it (a thread costs ~10 MB and a few fds, not worth one per bridge).
 */
export function sharedCopyThreads(count: number, log: Logger): CopyThreads {
  let threads = shared.get(count);
  if (threads === undefined) shared.set(count, (threads = new CopyThreads(count, log)));
  return threads;
}

export class CopyThreads {
  private readonly threads: Thread[] = [];
  private readonly pending = new Map<number, Pending>();
  /** Jobs copy() took this turn of the event loop, posted by dispatch(). */
  private queue: Queued[] = [];
  private dispatchScheduled = false;
  private nextId = 1;
  private closing = false;

  /** Threads start at the first copy (a bridge that never copies much has none). */
  constructor(
    private readonly count: number,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.count;
  }

  /** Copies in flight. */
  get busy(): number {
    return this.pending.size;
  }

  /**
   * Copies `spans` into the extent (see CopyTarget), leaving out the holes `holesFd`
   * (if given) reports in the client's file; resolves with what was copied. The job
   * goes to the threads once the event loop has handled everything ready now.
   */
  copy(spans: readonly Span[], target: CopyTarget, holesFd?: number): Promise<CopyResult> {
    if (this.closing) return Promise.reject(new Error('copy threads are shut down'));
    const id = this.nextId++;
    return new Promise<CopyResult>((resolve, reject) => {
      const result: CopyResult = { wanted: 0, copied: 0, holes: [] };
      this.pending.set(id, { resolve, reject, parts: 0, result, failed: undefined });
      this.queue.push({ id, spans, target, holesFd });
      if (!this.dispatchScheduled) {
        this.dispatchScheduled = true;
        setImmediate(() => this.dispatch());
      }
    });
  }

  /**
   * Posts every queued job: split between the threads idle at that point, or whole to
   * the least busy one; one message per thread. Invariant: a job's `parts` counts the
   * shares posted for it, each also in its thread's `shares`.
   */
  private dispatch(): void {
    this.dispatchScheduled = false;
    const jobs = this.queue;
    this.queue = [];
    while (this.threads.length < this.count) this.threads.push(this.spawn());
    const batches = new Map<Thread, CopyJobMessage[]>();
    for (const job of jobs) {
      const p = this.pending.get(job.id)!;
      let idle = 0;
      for (const t of this.threads) if (t.queued === 0) idle++;
      const groups = splitSpans(job.spans, Math.max(1, idle), MIN_SHARE_BYTES);
      for (const group of groups) {
        const thread = this.leastBusy();
        const bytes = spanBytes(group);
        thread.queued += bytes;
        thread.shares.set(job.id, (thread.shares.get(job.id) ?? 0) + bytes);
        p.parts++;
        let batch = batches.get(thread);
        if (batch === undefined) batches.set(thread, (batch = []));
        batch.push({ id: job.id, spans: group, target: job.target, holesFd: job.holesFd });
      }
      if (groups.length === 0) this.settle(job.id);
    }
    for (const [thread, batch] of batches) thread.worker.postMessage(batch);
  }

  /** Stops the threads once the copies in flight are done (new ones are refused). */
  close(): void {
    this.closing = true;
    if (this.pending.size === 0) this.terminate();
  }

  private leastBusy(): Thread {
    let best = this.threads[0]!;
    for (const t of this.threads) if (t.queued < best.queued) best = t;
    return best;
  }

  private spawn(): Thread {
    const worker = import.meta.url.endsWith('.ts') ? this.spawnFromSource() : this.spawnBuilt();
    const thread: Thread = { worker, queued: 0, shares: new Map() };
    worker.on('message', (reply: CopyResultMessage) => this.done(thread, reply));
    worker.on('error', (err) => this.lost(thread, err));
    worker.on('exit', (code) => {
      if (!this.closing) this.lost(thread, new Error(`copy thread exited (${code})`));
    });
    // After the listeners (adding one refs the port again): copies in flight belong to
    // sessions, which keep the loop alive; idle threads must not keep the process up.
    worker.unref();
    return thread;
  }

  private spawnBuilt(): Worker {
    return new Worker(new URL('./copy-worker.js', import.meta.url), { name: 'grantway-copy' });
  }

  /**
   * From the TypeScript sources (tests, tsx), the worker loads its .ts file through
   * tsx's API (Node 20 does not pass --import loaders on to workers).
   */
  private spawnFromSource(): Worker {
    const url = JSON.stringify(new URL('./copy-worker.ts', import.meta.url).href);
    const load = `import('tsx/esm/api').then((tsx) => tsx.tsImport(${url}, ${url}))`;
    return new Worker(load, { eval: true, name: 'grantway-copy' });
  }

  private done(thread: Thread, reply: CopyResultMessage): void {
    const bytes = thread.shares.get(reply.id) ?? 0;
    thread.shares.delete(reply.id);
    thread.queued -= bytes;
    const p = this.pending.get(reply.id);
    if (p === undefined) return;
    if ('error' in reply) p.failed ??= new Error(`copy failed: ${reply.error}`);
    else {
      p.result.wanted += reply.wanted;
      p.result.copied += reply.copied;
      for (const hole of reply.holes) p.result.holes.push(hole);
    }
    if (--p.parts === 0) this.settle(reply.id);
  }

  private settle(id: number): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    if (p.failed !== undefined) p.reject(p.failed);
    else p.resolve(p.result);
    if (this.closing && this.pending.size === 0) this.terminate();
  }

  /**
   * A thread died (it cannot, short of a bug): its shares fail, and a new thread takes
   * its place. The memory a failed copy used stays valid until its promise settles.
   */
  private lost(thread: Thread, err: Error): void {
    const i = this.threads.indexOf(thread);
    if (i < 0) return;
    this.log.error({ err }, 'a copy thread died; starting another');
    if (!this.closing) this.threads[i] = this.spawn();
    else this.threads.splice(i, 1);
    for (const id of thread.shares.keys()) {
      const p = this.pending.get(id);
      if (p === undefined) continue;
      p.failed ??= err;
      if (--p.parts === 0) this.settle(id);
    }
    thread.shares.clear();
    void thread.worker.terminate();
  }

  private terminate(): void {
    for (const t of this.threads.splice(0)) void t.worker.terminate();
  }
}
