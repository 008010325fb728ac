// `npm run bench:foot`: foot scrolling a long output (10 000 lines by default) through
// the bridge on sway (headless, pixman; as nobody where run as root), at default
// settings, in one run: grant mode as it is (sparse extents, pages granted as buffers
// cover them), grant mode with pools granted whole as before (the baseline; limits raised
// so foot is let in), and passthrough. What matters (issue 9 item 2, issue 13 item 3):
// the pages the bridge's extents hold against the bytes foot's live buffers cover (must
// stay ≤ 2×) and against the pages foot's own pool files hold, and the refs a Xen grant
// table would hold — sample by sample; harness/real/foot-scroll.ts takes the samples.
//
// Output: one summary row per leg, then the time series of each (a row every
// `--every` ms). --json prints every sample instead.

import { parseArgs } from 'node:util';
import { startCompositor } from '../harness/real/compositors.js';
import {
  type FootSample,
  type FootScrollResult,
  runFootScroll,
} from '../harness/real/foot-scroll.js';
import { MAX_SHM_SIZE } from '../bridge/relay/limits.js';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '10000' },
    burst: { type: 'string', default: '100' },
    'pause-ms': { type: 'string', default: '50' },
    width: { type: 'string', default: '1920' },
    height: { type: 'string', default: '1080' },
    every: { type: 'string', default: '1000' },
    json: { type: 'boolean', default: false },
  },
});

const MiB = 1024 * 1024;
const mib = (bytes: number): string => (bytes / MiB).toFixed(1);

interface Leg {
  readonly name: string;
  readonly mode: 'grant' | 'passthrough';
  readonly whole?: boolean;
  readonly limits?: Record<string, number>;
}

const legs: Leg[] = [
  { name: 'grant (sparse extents, default limits)', mode: 'grant' },
  {
    name: 'grant, pools granted whole (before; limits raised)',
    mode: 'grant',
    whole: true,
    limits: { maxPoolSize: MAX_SHM_SIZE, maxShmTotal: 64 * 1024 * MiB },
  },
  { name: 'passthrough (default limits)', mode: 'passthrough' },
];

/** Samples while foot drew (its pools hold pages and its buffers cover some). */
const drawing = (r: FootScrollResult): FootSample[] =>
  r.samples.filter((s) => s.footBytes > 0 && s.coveredBytes > 0);

function summaryRow(leg: Leg, r: FootScrollResult): string {
  const d = drawing(r);
  const peak = (f: (s: FootSample) => number): number => Math.max(0, ...d.map(f));
  const ratio = (over: (s: FootSample) => number): string =>
    Math.max(0, ...d.map((s) => s.extentBytes / over(s))).toFixed(2);
  const status =
    r.exitCode === 0 && r.bridgeWarnings.length === 0
      ? 'ok'
      : `exit ${r.exitCode ?? r.signal}; ${r.bridgeWarnings[0] ?? ''}`;
  const grant = leg.mode === 'grant';
  return (
    `| ${leg.name} | ${status} | ${r.commits} in ${(r.ms / 1000).toFixed(1)} s | ` +
    `${mib(peak((s) => s.footBytes))} | ${mib(peak((s) => s.coveredBytes))} | ` +
    `${mib(peak((s) => s.extentBytes))} | ${peak((s) => s.refsInUse)} | ` +
    `${grant ? ratio((s) => s.coveredBytes) : '–'} | ${grant ? ratio((s) => s.footBytes) : '–'} | ` +
    `${r.poolsAtE3}/${r.pools}${r.e3Unavailable ? ' (E3 walk blind here: E2 decides)' : ''} | ${r.refsLeft} |`
  );
}

function series(r: FootScrollResult, every: number): string[] {
  const rows: string[] = [];
  let next = 0;
  for (const s of r.samples) {
    if (s.t < next) continue;
    next = s.t + every;
    rows.push(
      `| ${(s.t / 1000).toFixed(1)} | ${mib(s.footBytes)} | ${mib(s.coveredBytes)} | ` +
        `${mib(s.extentBytes)} | ${s.refsInUse} |`,
    );
  }
  const last = r.samples.at(-1);
  if (last !== undefined && !rows.at(-1)?.startsWith(`| ${(last.t / 1000).toFixed(1)} `)) {
    rows.push(
      `| ${(last.t / 1000).toFixed(1)} | ${mib(last.footBytes)} | ${mib(last.coveredBytes)} | ` +
        `${mib(last.extentBytes)} | ${last.refsInUse} |`,
    );
  }
  rows.push(`| after exit | – | – | – | ${r.refsLeft} left |`);
  return rows;
}

async function main(): Promise<void> {
  const width = Number(values.width);
  const height = Number(values.height);
  const sway = await startCompositor('sway', { width, height });
  const results: { leg: Leg; result: FootScrollResult }[] = [];
  try {
    for (const leg of legs) {
      const result = await runFootScroll({
        compositor: sway,
        mode: leg.mode,
        whole: leg.whole,
        limits: leg.limits,
        lines: Number(values.lines),
        burst: Number(values.burst),
        pauseMs: Number(values['pause-ms']),
        sampleMs: 100,
        timeoutMs: 300_000,
      });
      results.push({ leg, result });
    }
  } finally {
    await sway.stop();
  }
  if (values.json) {
    console.log(JSON.stringify(results, null, 2));
    return;
  }
  console.log(
    `foot scrolling ${values.lines} lines (bursts of ${values.burst}) on sway ${width}×${height}, ` +
      `${new Date().toISOString().slice(0, 10)}; foot pools and extents: MiB of pages their files hold (st_blocks); covered: MiB foot's live buffers cover, page-rounded\n`,
  );
  console.log(
    '| leg | foot | frames | foot pools | covered | extents | refs in use (peak) | ' +
      'extents ÷ covered (max) | extents ÷ foot pools (max) | pools at E3 | refs left |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const { leg, result } of results) console.log(summaryRow(leg, result));
  for (const { leg, result } of results) {
    console.log(`\n${leg.name}, over time:\n`);
    console.log('| s | foot pools MiB | covered MiB | extents MiB | refs in use |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const row of series(result, Number(values.every))) console.log(row);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
