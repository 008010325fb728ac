// PASS/FAIL for a soak run, one named check per promise the bridge makes under load:
// nobody crashed, nobody got a protocol error or was dropped, every committed frame got
// its callback, memory and fds did not grow, grants stayed bounded and all came back.
// Growth is judged by comparing the last window of the run with an early one taken
// after warm-up (the second minute against the last minute in a 10-minute run).

import type { SoakResult, SoakSample } from './run.js';

export interface Check {
  readonly name: string;
  readonly pass: boolean;
  readonly detail: string;
}

export interface WindowStats {
  readonly fromS: number;
  readonly toS: number;
  readonly rssKiB: number;
  readonly fds: number;
  readonly extents: number;
  readonly extentsMax: number;
}

export interface Verdict {
  readonly pass: boolean;
  readonly checks: readonly Check[];
  /** The early (after warm-up) and the final window the growth checks compare. */
  readonly warm: WindowStats;
  readonly end: WindowStats;
}

/** Limits of the growth checks: end ≤ warm × ratio + slack. */
export const GROWTH = {
  // Runs shorter than 2 minutes end while V8 is still sizing its heap: more slack.
  rss: { ratio: 1.05, slackKiB: 8 * 1024, shortRunSlackKiB: 16 * 1024, shortRunS: 120 },
  fds: { ratio: 1.05, slack: 4 },
  extents: { ratio: 1.25, slack: 4 },
  /** Grants in use at any time, per client through the bridge (+ a constant). */
  extentsPerClient: 3,
  extentsSlack: 8,
  /** The slowest client must deliver at least this share of the median client's frames. */
  fairness: 0.25,
} as const;

function windowOf(samples: readonly SoakSample[], fromS: number, toS: number): WindowStats {
  const inside = samples.filter((s) => s.t > fromS && s.t <= toS);
  const mean = (pick: (s: SoakSample) => number): number =>
    inside.length === 0 ? Number.NaN : inside.reduce((a, s) => a + pick(s), 0) / inside.length;
  return {
    fromS,
    toS,
    rssKiB: mean((s) => s.bridge.rssKiB),
    fds: mean((s) => s.bridge.fds),
    extents: mean((s) => s.bridge.extents),
    extentsMax: inside.reduce((m, s) => Math.max(m, s.bridge.extents), 0),
  };
}

/** The second window of length min(60 s, run/4) and the last one. */
export function growthWindows(samples: readonly SoakSample[]): {
  warm: WindowStats;
  end: WindowStats;
} {
  const duration = samples.length === 0 ? 0 : samples[samples.length - 1]!.t;
  const w = Math.max(1, Math.min(60, Math.floor(duration / 4)));
  return { warm: windowOf(samples, w, 2 * w), end: windowOf(samples, duration - w, duration) };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[s.length >> 1]!;
};

export function judge(r: Omit<SoakResult, 'verdict'>): Verdict {
  const checks: Check[] = [];
  const check = (name: string, pass: boolean, detail: string): void => {
    checks.push({ name, pass, detail });
  };
  const failures = r.clients.flatMap((c) => c.failures.map((f) => ({ id: c.id, ...f })));
  const protocol = failures.filter((f) => f.kind === 'protocol');
  const dropped = failures.filter((f) => f.kind !== 'protocol');
  const expected = r.options.clients + r.options.direct;

  check(
    'no crash',
    r.crashes.length === 0 && r.clients.length === expected,
    r.crashes.length === 0
      ? `bridge, compositor and workers up to the end; ${r.clients.length}/${expected} clients reported`
      : r.crashes.join('; '),
  );
  check(
    'no protocol error',
    protocol.length === 0 && r.bridgeLog.protocolErrors === 0,
    `${protocol.length} at clients, ${r.bridgeLog.protocolErrors} in the bridge log` +
      (protocol.length > 0
        ? ` (first: client ${protocol[0]!.id}: ${protocol[0]!.interfaceName ?? ''} #${protocol[0]!.code ?? ''} ${protocol[0]!.message})`
        : ''),
  );
  check(
    'no disconnect',
    dropped.length === 0 && r.real.failures.length === 0,
    dropped.length === 0 && r.real.failures.length === 0
      ? `0 of ${r.clients.length} scripted clients, 0 of ${r.real.started} weston-simple-shm`
      : [
          ...dropped
            .slice(0, 1)
            .map((d) => `${dropped.length} scripted (first: client ${d.id}: ${d.message})`),
          ...r.real.failures.slice(0, 2),
        ].join('; '),
  );
  const committed = r.clients.reduce((a, c) => a + c.committed, 0);
  const delivered = r.clients.reduce((a, c) => a + c.delivered, 0);
  const unfinished = r.clients.filter((c) => !c.finished);
  check(
    'no frame lost',
    committed === delivered && unfinished.length === 0,
    `${delivered}/${committed} frame callbacks` +
      (unfinished.length > 0 ? `; ${unfinished.length} clients stuck at stop` : ''),
  );
  const perClient = r.clients.filter((c) => c.route === 'bridge').map((c) => c.delivered);
  const mid = median(perClient);
  const least = perClient.length === 0 ? 0 : Math.min(...perClient);
  check(
    'every client served',
    least > 0 && least >= GROWTH.fairness * mid,
    `least ${least}, median ${mid} frames per bridge client`,
  );
  const logged = r.bridgeLog.warnings + r.bridgeLog.errors;
  check(
    'bridge log clean',
    logged === 0,
    logged === 0
      ? 'no warning or error'
      : Object.entries(r.bridgeLog.messages)
          .map(([m, n]) => `${n}× ${m}`)
          .join('; '),
  );

  const { warm, end } = growthWindows(r.samples);
  const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
  const short = end.toS < GROWTH.rss.shortRunS;
  const rssBound =
    warm.rssKiB * GROWTH.rss.ratio + (short ? GROWTH.rss.shortRunSlackKiB : GROWTH.rss.slackKiB);
  check(
    'RSS not growing',
    end.rssKiB <= rssBound,
    `mean ${mib(warm.rssKiB)} (t ${warm.fromS}–${warm.toS} s) → ${mib(end.rssKiB)} (t ${end.fromS}–${end.toS} s), bound ${mib(rssBound)}`,
  );
  const fdBound = warm.fds * GROWTH.fds.ratio + GROWTH.fds.slack;
  check(
    'fds not growing',
    end.fds <= fdBound,
    `mean ${warm.fds.toFixed(1)} → ${end.fds.toFixed(1)}, bound ${fdBound.toFixed(1)}`,
  );
  const extentsMax = r.samples.reduce((m, s) => Math.max(m, s.bridge.extents), 0);
  // weston-simple-shm makes one pool per buffer (two): count it as two clients.
  const cap =
    GROWTH.extentsPerClient * (r.options.clients + 2 * r.real.started) + GROWTH.extentsSlack;
  const extBound = warm.extents * GROWTH.extents.ratio + GROWTH.extents.slack;
  check(
    'grants bounded',
    extentsMax <= cap && end.extents <= extBound,
    `max ${extentsMax} (cap ${cap}); mean ${warm.extents.toFixed(1)} → ${end.extents.toFixed(1)}, bound ${extBound.toFixed(1)}`,
  );
  check(
    'all grants and fds back',
    r.drained.extents === 0 && r.drained.fds <= r.idle.fds,
    `after the clients left: ${r.drained.extents} extents, ${r.drained.fds} fds (idle ${r.idle.fds}) after ${r.drained.waitedMs} ms`,
  );
  return { pass: checks.every((c) => c.pass), checks, warm, end };
}
