// The demo's summary, as rows of (what, value): the CLI prints them as a table and the
// HTML page shows them under the timeline, so both say the same thing.

import type { DemoResult } from './demo.js';

export function demoSummaryRows(r: Omit<DemoResult, 'picture'>): [string, string][] {
  const t = r.trace;
  const ms = (x: number): string => `${x.toFixed(2)} ms`;
  return [
    ['clients', `${t.clients} (one SIGKILLed mid-frame)`],
    ['frames composited', String(r.compositorFrames)],
    ['pools / buffers', `${t.pools} / ${t.buffers} (${(t.poolBytes / 1048576).toFixed(2)} MiB)`],
    [
      'commits copied',
      `${r.copies.commits} (${r.copies.fullCopies} full, ${(r.copies.bytes / 1048576).toFixed(2)} MiB)`,
    ],
    ['reclaim policy', r.reclaim.policy ?? 'none'],
    ['grants allocated', String(r.grantsAllocated)],
    ['grants reclaimed', String(r.grantsReclaimed)],
    ['end-of-access attempts', `${r.reclaim.attempts} (${r.reclaim.failed} refused: still mapped)`],
    ['deferred peak', `${r.reclaim.deferredPeak} refs (pages retired, not yet freed)`],
    [
      'evidence reached',
      `E0 ${t.evidenceReached.E0}, E1 ${t.evidenceReached.E1}, E2 ${t.evidenceReached.E2}, E3 ${t.evidenceReached.E3}`,
    ],
    [
      'let go → E3 (unmapped)',
      t.destroyToE3Ms.count === 0
        ? 'none'
        : `p50 ${ms(t.destroyToE3Ms.p50)}, p99 ${ms(t.destroyToE3Ms.p99)}, max ${ms(t.destroyToE3Ms.max)}`,
    ],
    [
      'unsafe reclaims',
      `${r.unsafeReclaims}${r.unsafeReclaims === 0 ? '' : '  ← a grant was freed while mapped'}`,
    ],
    ['leaked grants', `${r.leakedGrants}${r.leakedGrants === 0 ? '' : '  ← left allocated'}`],
  ];
}
