// The human summary of a soak run: one table a reviewer can paste into the README's
// reliability section, then every PASS/FAIL check with the figures it was judged on.

import type { LatencySummary, SoakResult } from './run.js';

const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;
const ms = (v: number): string => (Number.isNaN(v) ? '—' : `${v.toFixed(2)} ms`);

function latencyCell(l: LatencySummary): string {
  return `p50 ${ms(l.p50Ms)}, p99 ${ms(l.p99Ms)}, max ${ms(l.maxMs)} (n=${l.samples})`;
}

export function addedP99Ms(l: Readonly<Record<'bridge' | 'direct', LatencySummary>>): number {
  return l.bridge.p99Ms - l.direct.p99Ms;
}

export function formatTable(r: SoakResult): string {
  const o = r.options;
  const first = r.samples[0];
  const last = r.samples[r.samples.length - 1];
  const duration = last?.t ?? 0;
  const bridgeClients = r.clients.filter((c) => c.route === 'bridge');
  const directClients = r.clients.filter((c) => c.route === 'direct');
  const sum = (xs: readonly { delivered: number }[]): number =>
    xs.reduce((a, c) => a + c.delivered, 0);
  const per = bridgeClients.map((c) => c.delivered).sort((a, b) => a - b);
  const perDirect = directClients.map((c) => c.delivered).sort((a, b) => a - b);
  const spread = (xs: readonly number[]): string =>
    xs.length === 0 ? '—' : `min ${xs[0]}, median ${xs[xs.length >> 1]}, max ${xs[xs.length - 1]}`;
  const meanOf = (pick: (s: SoakResult['samples'][number]) => number): number =>
    r.samples.length === 0
      ? Number.NaN
      : r.samples.reduce((a, s) => a + pick(s), 0) / r.samples.length;
  const extentsMax = r.samples.reduce((m, s) => Math.max(m, s.bridge.extents), 0);
  const committed = r.clients.reduce((a, c) => a + c.committed, 0);
  const delivered = sum(r.clients);
  const failures = r.clients.flatMap((c) => c.failures);
  const pools = bridgeClients.reduce((a, c) => a + c.poolsCreated, 0);
  const buffers = bridgeClients.reduce((a, c) => a + c.buffersCreated, 0);

  const rows: [string, string][] = [
    [
      'frames delivered, bridge',
      `${sum(bridgeClients)} (${(sum(bridgeClients) / Math.max(duration, 1)).toFixed(0)}/s); per client ${spread(per)}`,
    ],
    [
      'frames delivered, direct',
      `${sum(directClients)} (${(sum(directClients) / Math.max(duration, 1)).toFixed(0)}/s); per client ${spread(perDirect)}`,
    ],
    [
      'weston-simple-shm through the bridge',
      r.real.started === 0
        ? 'none (not installed or --real 0)'
        : `${r.real.started} ran the whole time; ${r.real.failures.length} failed`,
    ],
    ['churn through the bridge', `${pools} pools, ${buffers} buffers created and destroyed`],
    ['frame callback, bridge', latencyCell(r.frameLatency.bridge)],
    ['frame callback, direct', latencyCell(r.frameLatency.direct)],
    [
      'added by the bridge, frame callback',
      `p50 ${ms(r.frameLatency.bridge.p50Ms - r.frameLatency.direct.p50Ms)}, p99 ${ms(addedP99Ms(r.frameLatency))}`,
    ],
    ['sync roundtrip, bridge', latencyCell(r.roundtripLatency.bridge)],
    ['sync roundtrip, direct', latencyCell(r.roundtripLatency.direct)],
    [
      'added by the bridge, sync roundtrip',
      `p50 ${ms(r.roundtripLatency.bridge.p50Ms - r.roundtripLatency.direct.p50Ms)}, p99 ${ms(addedP99Ms(r.roundtripLatency))}`,
    ],
    [
      'bridge RSS',
      `idle ${mib(r.idle.rssKiB)}; first ${mib(first?.bridge.rssKiB ?? Number.NaN)} → last ${mib(last?.bridge.rssKiB ?? Number.NaN)}; ` +
        `window means ${mib(r.verdict.warm.rssKiB)} → ${mib(r.verdict.end.rssKiB)}; drained ${mib(r.drained.rssKiB)}`,
    ],
    [
      'bridge fds',
      `idle ${r.idle.fds}; first ${first?.bridge.fds ?? '—'} → last ${last?.bridge.fds ?? '—'}; ` +
        `window means ${r.verdict.warm.fds.toFixed(1)} → ${r.verdict.end.fds.toFixed(1)}; drained ${r.drained.fds}`,
    ],
    [
      'grants in use (memfd extents)',
      `max ${extentsMax}; window means ${r.verdict.warm.extents.toFixed(1)} → ${r.verdict.end.extents.toFixed(1)}; drained ${r.drained.extents} after ${r.drained.waitedMs} ms`,
    ],
    [
      'CPU (mean of 1 s samples)',
      `bridge ${meanOf((s) => s.bridge.cpuPercent).toFixed(0)}%, compositor ${meanOf((s) => s.compositorCpuPercent).toFixed(0)}%, ` +
        `client workers ${meanOf((s) => s.workersCpuPercent).toFixed(0)}% (worst loop delay p99 ${Math.max(...r.samples.map((s) => s.workerLoopDelayP99Ms)).toFixed(1)} ms)`,
    ],
    [
      'waiting for a CPU (run queue)',
      `bridge ${meanOf((s) => s.bridge.runQueuePercent).toFixed(0)}% of the time, compositor ${meanOf((s) => s.compositorRunQueuePercent).toFixed(0)}% (load average ${r.loadAverage.map((l) => l.toFixed(1)).join(', ')} at the end)`,
    ],
    [
      'losses',
      `${committed - delivered} frames lost of ${committed}; ` +
        `${failures.filter((f) => f.kind === 'protocol').length} protocol errors; ` +
        `${failures.filter((f) => f.kind !== 'protocol').length + r.real.failures.length} disconnects; ${r.crashes.length} crashes`,
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = [
    `grantway soak: ${o.clients} scripted clients + ${r.real.started} weston-simple-shm through one bridge, ${o.direct} direct (baseline), ` +
      `${o.compositor}, ${duration.toFixed(0)} s, ${o.workers} worker processes, churn every ~${o.churnEveryFrames} frames`,
    '',
    `| ${'measure'.padEnd(width)} | value |`,
    `|${'-'.repeat(width + 2)}|-------|`,
    ...rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v} |`),
    '',
    ...r.verdict.checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`),
    '',
    r.verdict.pass ? 'PASS' : 'FAIL',
  ];
  return `${lines.join('\n')}\n`;
}
