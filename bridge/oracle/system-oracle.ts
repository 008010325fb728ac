// The E3 oracle of a running bridge: one object, shared by everyone who asks — the
// mapping watcher, which collects evidence for every waiting pool in one batch per tick,
// and the grant backend's end-access check (through the reclaim scheduler) — so that
// one look answers for every waiting extent and the backend's check right after a
// verdict costs nothing. It is the single poller issue 12 asks for; the watcher drives
// it, and the backoff floor below is the only rate limit.
//
// How a file is judged, cheapest first:
//   1. the kernel (sole-holder.ts), for files the bridge holds through one open file
//      description of its own (memfd extents): exact, about 2 µs a file, blind to nothing;
//   2. a walk over /proc (proc-scan.ts) for everything else (a passthrough pool's file,
//      a kernel that refuses leases), one walk per batch; the files still waiting for a
//      walk are added to every walk, so the scheduler's single-file questions share them.
//
// Answers are kept for the rest of the synchronous turn in which they were computed (a
// microtask clears them): the watcher's verdict reaches the tracker, the tracker retires
// the extent, the scheduler tries to end access and asks again, all in that turn, and
// nothing can give the compositor the file again before it ends. Across turns only the
// /proc walk's 'mapped' is reused, and only until the floor below allows another walk
// (a stale 'mapped' only delays a reclaim).
//
// CPU budget: each look is timed, and the next one should not start before
// cost × (1 − budget) / budget ms have passed (notBefore), so looking takes at most
// `cpuBudget` of one CPU on average whatever the number of processes or extents.
//
// 'unavailable' comes with a reason (blindnessFor), logged once per kind at warn level:
// an operator learns why extents wait for other evidence instead of E3.

import type { Logger } from 'pino';
import { fileKey } from './maps.js';
import { ProcScanner, type ScanItem } from './proc-scan.js';
import { askSoleHolder } from './sole-holder.js';
import {
  type Blindness,
  E3_BLIND_MESSAGE,
  type FileIdentity,
  type MappingOracle,
  type MappingQuestion,
  type MappingVerdict,
} from './types.js';

export interface SystemOracleOptions {
  /** Where procfs is mounted (default /proc). */
  readonly procRoot?: string;
  /** The bridge's pid, whose own holds never count (default process.pid). */
  readonly selfPid?: number;
  /** See ProcScannerOptions.vouchedPids (default none). */
  readonly vouchedPids?: readonly number[];
  readonly log?: Logger;
  /** Fraction of one CPU that looking may take on average, in (0, 1] (default 0.05). */
  readonly cpuBudget?: number;
  /** Ask the kernel where the file allows (default true); false: always walk /proc. */
  readonly useLeases?: boolean;
  /** ms, default performance.now. */
  readonly now?: () => number;
}

export interface SystemOracleStats {
  /** verdicts() calls that had to look (not answered from this turn's answers). */
  looks: number;
  /** Files answered by the kernel (leases). */
  leaseAnswers: number;
  /** Files answered by a /proc walk, and the walks. */
  walkAnswers: number;
  /** Time spent looking, ms, in all and in the last look. */
  busyMs: number;
  lastLookMs: number;
}

/** A walk's 'mapped' may be reused for a single question until the floor allows a walk. */
interface Waiting {
  readonly question: MappingQuestion;
  askedAt: number;
  verdict: MappingVerdict;
}

/** How long a file asked about through a walk stays in every walk without being asked. */
const WAITING_FORGET_MS = 2000;

export const DEFAULT_CPU_BUDGET = 0.05;

const questionKey = (q: MappingQuestion): string =>
  q.ownerPid === undefined ? fileKey(q.file) : `${fileKey(q.file)}/${q.ownerPid}`;

export class SystemOracle implements MappingOracle {
  readonly scanner: ProcScanner;
  readonly stats: SystemOracleStats = {
    looks: 0,
    leaseAnswers: 0,
    walkAnswers: 0,
    busyMs: 0,
    lastLookMs: 0,
  };
  private readonly log: Logger | undefined;
  private readonly budget: number;
  private readonly useLeases: boolean;
  private readonly now: () => number;
  /** This turn's answers, by questionKey; cleared by a microtask. */
  private readonly turn = new Map<string, MappingVerdict>();
  private turnEnds = false;
  /** Files judged by walks and not (yet) found unmapped, by questionKey. */
  private readonly waiting = new Map<string, Waiting>();
  /** Why each file was last 'unavailable', by fileKey (dropped on any other answer). */
  private readonly blind = new Map<string, Blindness>();
  private readonly warned = new Set<string>();
  private next = Number.NEGATIVE_INFINITY;

  constructor(options: SystemOracleOptions = {}) {
    const budget = options.cpuBudget ?? DEFAULT_CPU_BUDGET;
    if (!(budget > 0 && budget <= 1))
      throw new RangeError(`cpuBudget must be in (0, 1], got ${budget}`);
    this.budget = budget;
    this.log = options.log;
    this.useLeases = options.useLeases ?? true;
    this.now = options.now ?? (() => performance.now());
    this.scanner = new ProcScanner({
      procRoot: options.procRoot,
      selfPid: options.selfPid,
      vouchedPids: options.vouchedPids,
    });
    if (this.scanner.environment !== undefined) this.warnBlind(this.scanner.environment);
  }

  notBefore(): number {
    return this.next;
  }

  blindnessFor(file: FileIdentity): Blindness | undefined {
    return this.blind.get(fileKey(file));
  }

  verdict(question: MappingQuestion): MappingVerdict {
    const key = questionKey(question);
    const known = this.turn.get(key);
    if (known !== undefined) return known;
    const waiting = this.waiting.get(key);
    if (waiting !== undefined && waiting.verdict === 'mapped' && this.now() < this.next) {
      waiting.askedAt = this.now();
      return 'mapped';
    }
    return this.verdicts([question])[0]!;
  }

  verdicts(questions: readonly MappingQuestion[]): MappingVerdict[] {
    const answers = questions.map((q) => this.turn.get(questionKey(q)));
    if (answers.every((a) => a !== undefined)) return answers;
    const start = this.now();
    this.stats.looks++;
    const walk: { question: MappingQuestion; index: number }[] = [];
    questions.forEach((question, index) => {
      if (answers[index] !== undefined) return;
      const kernel = this.askKernel(question.file);
      if (kernel !== undefined) answers[index] = kernel;
      // An fd in flight is in no process's fd table: held until delivered (types.ts).
      else if (question.delivered === false) answers[index] = 'mapped';
      else walk.push({ question, index });
    });
    if (walk.length > 0) this.walk(walk, answers, start);
    questions.forEach((q, i) => this.remember(q, answers[i]!));
    const end = this.now();
    const cost = end - start;
    this.stats.busyMs += cost;
    this.stats.lastLookMs = cost;
    this.next = end + (cost * (1 - this.budget)) / this.budget;
    return answers as MappingVerdict[];
  }

  /** The kernel's answer, or undefined when it cannot give one for this file. */
  private askKernel(file: FileIdentity): MappingVerdict | undefined {
    if (!this.useLeases || file.ownFd === undefined) return undefined;
    const answer = askSoleHolder({ ...file, ownFd: file.ownFd });
    if (typeof answer === 'object') {
      this.warnOnce(
        `lease:${answer.unusable}`,
        { reason: answer.unusable },
        'E3: the kernel would not answer through a file lease; walking /proc instead',
      );
      return undefined;
    }
    this.stats.leaseAnswers++;
    return answer === 'sole' ? 'unmapped' : 'mapped';
  }

  /** One walk for `asked` plus every other file still waiting on walks. */
  private walk(
    asked: readonly { question: MappingQuestion; index: number }[],
    answers: (MappingVerdict | undefined)[],
    now: number,
  ): void {
    const extra: MappingQuestion[] = [];
    const inBatch = new Set(asked.map((a) => questionKey(a.question)));
    for (const [key, w] of this.waiting) {
      if (now - w.askedAt > WAITING_FORGET_MS) {
        this.waiting.delete(key);
        this.blind.delete(fileKey(w.question.file));
      } else if (!inBatch.has(key)) extra.push(w.question);
    }
    const items: ScanItem[] = [...asked.map((a) => a.question), ...extra];
    const results = this.scanner.scan(items);
    this.stats.walkAnswers += items.length;
    results.forEach((result, i) => {
      const question = items[i]!;
      const key = questionKey(question);
      if (result.verdict === 'unavailable') {
        this.blind.set(fileKey(question.file), result.blindness);
        this.warnBlind(result.blindness);
      }
      if (result.verdict === 'unmapped') this.waiting.delete(key);
      else {
        const w = this.waiting.get(key);
        if (w === undefined)
          this.waiting.set(key, { question, askedAt: now, verdict: result.verdict });
        else if (i < asked.length) {
          w.askedAt = now;
          w.verdict = result.verdict;
        } else w.verdict = result.verdict;
      }
      if (i < asked.length) answers[asked[i]!.index] = result.verdict;
      else this.remember(question, result.verdict);
    });
  }

  private remember(question: MappingQuestion, verdict: MappingVerdict): void {
    this.turn.set(questionKey(question), verdict);
    if (verdict !== 'unavailable') this.blind.delete(fileKey(question.file));
    if (!this.turnEnds) {
      this.turnEnds = true;
      queueMicrotask(() => {
        this.turn.clear();
        this.turnEnds = false;
      });
    }
  }

  private warnBlind(blindness: Blindness): void {
    this.warnOnce(
      `blind:${blindness.kind}`,
      { reason: blindness.kind, detail: blindness.detail },
      E3_BLIND_MESSAGE,
    );
  }

  private warnOnce(kind: string, fields: Record<string, string>, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.log?.warn(fields, message);
  }
}
