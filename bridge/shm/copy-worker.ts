// The body of one copy thread (copy-threads.ts): copies the spans it is sent from a
// client's pool into a grant extent, through memory the main thread has mapped (the
// joint mapping; threads share the address space) or with pread from an fd the main
// thread keeps open for the job. It runs at a lower priority than the event loop, so a
// burst of big commits never delays another client's messages on a busy machine.
//
// The thread also asks the client's file where its holes are (copy.ts, "holes") before
// it copies, and leaves them out: lseek(SEEK_HOLE) walks the file's pages (~0.1 ms for
// a 1080p frame), which on the event loop made every commit of a burst delay every
// message behind it (issue 10). It reports the holes; the main thread discards them
// from the extent before the commit goes on (grant-mode.ts).

import { parentPort } from 'node:worker_threads';
import { setThreadNice } from '../../ffi/libc.js';
import {
  type ByteRange,
  type Span,
  copySpans,
  holesIn,
  spanBytes,
  spansExtent,
  withoutHoles,
} from './copy.js';

/** A job, as the main thread posts it (addresses are plain numbers: < 2^47). */
export interface CopyJobMessage {
  readonly id: number;
  readonly spans: readonly Span[];
  readonly target:
    | {
        readonly kind: 'joint';
        readonly ptr: number;
        readonly length: number;
        readonly extentAt: number;
      }
    | { readonly kind: 'pread'; readonly fd: number; readonly extentPtr: number };
  /**
   * An fd on an open file description of the bridge's own for the client's file, to ask
   * it for holes (lseek moves its offset; nothing else uses it); undefined: copy every
   * byte. Open until the job's result is in.
   */
  readonly holesFd?: number | undefined;
}

/** What one job did: the bytes it meant to copy (holes left out), those it copied. */
export interface CopyOutcome {
  readonly wanted: number;
  readonly copied: number;
  /** The client's holes within the job's spans' extent, not read (to discard). */
  readonly holes: readonly ByteRange[];
}

export type CopyResultMessage =
  ({ readonly id: number } & CopyOutcome) | { readonly id: number; readonly error: string };

/** Below the event loop's 0: the scheduler runs the relay first when both want a CPU. */
const COPY_THREAD_NICE = 10;

const NO_HOLES: readonly ByteRange[] = [];

function run(job: CopyJobMessage): CopyOutcome {
  let spans = job.spans;
  let holes = NO_HOLES;
  if (job.holesFd !== undefined && spans.length > 0) {
    const [from, to] = spansExtent(spans);
    try {
      holes = holesIn(job.holesFd, from, to);
    } catch {
      holes = NO_HOLES; // a file that cannot say: read it all
    }
    if (holes.length > 0) spans = withoutHoles(spans, holes);
  }
  const t = job.target;
  const copied =
    t.kind === 'joint'
      ? copySpans(spans, { kind: 'joint', base: t.ptr, extentAt: t.extentAt }, 0n)
      : copySpans(spans, { kind: 'pread', fd: t.fd }, BigInt(t.extentPtr));
  return { wanted: spanBytes(spans), copied, holes };
}

if (parentPort !== null) {
  const port = parentPort;
  try {
    setThreadNice(COPY_THREAD_NICE);
  } catch {
    // Not allowed here (a seccomp filter, say): copies still run, at the loop's priority.
  }
  // Jobs come in batches (one message per event-loop turn of the main thread); each
  // gets its own answer as soon as it is done, so a commit waits for its copy only.
  port.on('message', (jobs: readonly CopyJobMessage[]) => {
    for (const job of jobs) {
      let reply: CopyResultMessage;
      try {
        reply = { id: job.id, ...run(job) };
      } catch (err) {
        reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
      }
      port.postMessage(reply);
    }
  });
}
