// `evidence`: end foreign access only once the bridge has evidence that the compositor
// no longer maps the grant, so that (at E3) no attempt ever fails. The live default.
//
// When to use it: whenever the bridge can see the compositor — always, in practice.
// At `level=E3` (default) a retired grant is reclaimed the moment the E3 oracle says no
// process but the bridge maps or holds its pages. The oracle is asked again on an
// exponential backoff (1, 2, 4, 8, 8… ms by default, so an unmap is seen within one
// 60 Hz frame): in a live bridge by its one E3 poller, the mapping watcher, which looks
// on this policy's backoff (`recheck`) and whose verdicts are acted on at once; in a
// replay by the policy's own probes. Lower levels (`E2`: the compositor retired the
// pool and all its buffers; `E1`: all buffers released) also attempt on the protocol's
// word, for a compositor in another domain the oracle cannot see (the oracle is still
// asked, and E3 meets any level); an attempt that fails there is never repeated
// blindly: the grant waits for the oracle (or, when none can tell, retries on the
// backoff). `unavailable=E2` (default) accepts E2 when the oracle says it cannot tell;
// `unavailable=wait` keeps waiting for E3.

import { Backoff, DEFAULT_BACKOFF } from '../../bridge/oracle/index.js';
import { type EvidenceLevel, evidenceRank } from '../../bridge/shm/index.js';
import { MinHeap } from '../heap.js';
import type { GrantId, GrantInfo, PolicyContext, PolicyEvent, ReclaimPolicy } from '../types.js';

export interface EvidencePolicyOptions {
  /** The evidence that allows a first attempt. */
  readonly level: Exclude<EvidenceLevel, 'E0'>;
  readonly backoffStartMs: number;
  readonly backoffFactor: number;
  /** Ceiling of the probe interval: bounds the latency from unmap to reclaim. */
  readonly backoffMaxMs: number;
  /** What to accept when the oracle answers 'unavailable'. */
  readonly unavailable: 'E2' | 'wait';
}

export const EVIDENCE_DEFAULTS: EvidencePolicyOptions = {
  level: 'E3',
  backoffStartMs: DEFAULT_BACKOFF.startMs,
  backoffFactor: DEFAULT_BACKOFF.factor,
  backoffMaxMs: DEFAULT_BACKOFF.maxMs,
  unavailable: 'E2',
};

interface Waiting {
  readonly backoff: Backoff;
  /** The pending probe's time (undefined: none; waiting for evidence). */
  dueAt: number | undefined;
  /** An attempt failed: from now on only the oracle (or its absence) allows another. */
  failed: boolean;
  /** Evidence when last considered, to reset the backoff when it rises. */
  evidence: EvidenceLevel;
}

export function evidencePolicy(
  options: EvidencePolicyOptions = EVIDENCE_DEFAULTS,
  name = `evidence-${options.level}`,
): ReclaimPolicy {
  const { level } = options;
  const backoffOptions = {
    startMs: options.backoffStartMs,
    factor: options.backoffFactor,
    maxMs: options.backoffMaxMs,
  };
  /** Retired grants not yet reclaimed. Invariant: only ids the scheduler calls retired. */
  const waiting = new Map<GrantId, Waiting>();
  /** Probe times; an entry is stale unless it matches its grant's `dueAt`. */
  const probes = new MinHeap<GrantId>();

  const unavailableAccepts = (g: GrantInfo): boolean =>
    g.oracle === 'unavailable' &&
    options.unavailable === 'E2' &&
    evidenceRank(g.evidence) >= evidenceRank('E2');

  const allowsFirstAttempt = (g: GrantInfo): boolean =>
    g.oracle === 'unmapped' ||
    evidenceRank(g.evidence) >= evidenceRank(level) ||
    unavailableAccepts(g);

  const scheduleProbe = (w: Waiting, id: GrantId, ctx: PolicyContext): void => {
    if (w.dueAt !== undefined) return;
    w.dueAt = w.backoff.nextAt(ctx.now);
    probes.push(w.dueAt, id);
    ctx.wakeAt(w.dueAt);
  };

  const attempt = (w: Waiting, id: GrantId, ctx: PolicyContext): void => {
    if (ctx.reclaim(id) === 'ok') {
      waiting.delete(id);
      return;
    }
    w.failed = true;
    scheduleProbe(w, id, ctx);
  };

  /** One look at the oracle, and what follows from it. Cancels a pending probe. */
  const probe = (id: GrantId, ctx: PolicyContext): void => {
    const w = waiting.get(id);
    const g = ctx.grant(id);
    if (w === undefined || g === undefined) {
      waiting.delete(id);
      return;
    }
    w.dueAt = undefined; // a queued probe for the old time is now stale
    const verdict = ctx.probe(id);
    if (verdict === 'unmapped') attempt(w, id, ctx);
    else if (verdict === 'mapped') scheduleProbe(w, id, ctx);
    // The oracle cannot tell: the backend's answer is the only evidence left once an
    // attempt has failed; before that, E2 may be enough (option `unavailable`).
    else if (w.failed || unavailableAccepts(g)) attempt(w, id, ctx);
    // Else wait for protocol evidence (the next 'evidence' event looks again).
  };

  /** A retired grant, or new facts about one: attempt, look now, or wait. */
  const consider = (g: GrantInfo, ctx: PolicyContext, fresh: boolean): void => {
    const w = waiting.get(g.id);
    if (w === undefined) return;
    let risen = fresh;
    if (evidenceRank(g.evidence) > evidenceRank(w.evidence)) {
      // New evidence: the compositor is acting on this pool now, so look again soon.
      w.evidence = g.evidence;
      w.backoff.reset();
      risen = true;
    }
    // Any level is met by E3: below E3 the oracle is asked too, so that a grant whose
    // protocol evidence never comes (a buffer never released) is still reclaimed.
    if (g.oracle === 'unmapped' || (!w.failed && allowsFirstAttempt(g))) attempt(w, g.id, ctx);
    else if (risen)
      probe(g.id, ctx); // the unmap may already have happened: look now
    else scheduleProbe(w, g.id, ctx);
  };

  return {
    name,
    recheck: backoffOptions,
    handle(event: PolicyEvent, ctx: PolicyContext): void {
      switch (event.type) {
        case 'retired': {
          const g = event.grant;
          waiting.set(g.id, {
            backoff: new Backoff(backoffOptions),
            dueAt: undefined,
            failed: false,
            evidence: g.evidence,
          });
          consider(g, ctx, true);
          return;
        }
        case 'evidence':
          consider(event.grant, ctx, false);
          return;
        case 'timer':
          for (let due = probes.peekKey(); due !== undefined && due <= ctx.now;) {
            const id = probes.pop()!;
            if (waiting.get(id)?.dueAt === due) probe(id, ctx);
            due = probes.peekKey();
          }
          return;
        default:
          return;
      }
    },
  };
}
