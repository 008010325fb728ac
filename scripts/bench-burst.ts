// `npm run bench:burst`: what one client's big commits cost everyone else. N clients
// (1, 16, 64) each commit a 1920×1080 ARGB8888 frame with full damage at the same
// moment, and a separate client measures wl_display.sync roundtrips back to back until
// every commit has been answered. Per path and row, p50 and
// p99 over several bursts: the first sync, sent right after the burst (what the soak
// measured), every sync during the burst, and what the burst's own commits took (each
// client's commit to the reply to the sync behind it; the whole burst: to the last).
//
// Paths: direct to the compositor; the plain C relay of bench:proxy (the floor: any
// relay's hop, nothing understood); the same in Node on grantway's own FFI (Node's share
// of that floor); `grantway proxy` in passthrough mode (the relay
// alone: what its hop adds whatever grant mode does) and in grant mode (which copies
// every frame into grant pages, on its copy threads).
//
// The compositor is the embedded one by default (it does little per commit, so what
// the bridge adds shows); --compositor weston uses weston headless, whose commit
// handler reads every byte of a shm buffer (weston 10), ~40 ms per 1080p frame here.
// --pin CPU puts the bench, the compositor and the bridge (its copy threads too) on one
// CPU; by default the scheduler places them. --baseline DIST adds paths through another
// build's `grantway proxy`, passthrough and grant (DIST is its dist/ directory, e.g. a
// copy of main's), their bursts alternating with the others: before and after in one
// run (as bench:proxy).

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startEmbeddedCompositor } from '../harness/embedded.js';
import { startWeston } from '../harness/real/weston.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { BlockingClient } from './bench/blocking-client.js';
import {
  pinToCpu,
  startBridge,
  startCRelay,
  startNodeRelay,
  type Target,
} from './bench/targets.js';
import { commitBurst, FrameClient, quantile } from './bench/workloads.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1,16,64' },
    // 100: a p99 over fewer bursts is the worst burst or two, which says little.
    bursts: { type: 'string', default: '100' },
    compositor: { type: 'string', default: 'embedded' },
    pin: { type: 'string' },
    baseline: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const COUNTS = values.clients.split(',').map(Number);
const BURSTS = Number(values.bursts);
const registry = new ProtocolRegistry();
const BASELINE = values.baseline === undefined ? undefined : resolve(values.baseline);
if (BASELINE !== undefined && !existsSync(join(BASELINE, 'bridge', 'cli', 'main.js')))
  throw new Error(`--baseline: ${BASELINE} is no built dist/ (no bridge/cli/main.js)`);
// C relay: the floor (a poll loop moving bytes, no parsing), what any relay's hop adds.
// passthrough: grantway's relay alone (no copy).
const PATHS = [
  'direct',
  'C relay',
  'Node relay',
  'grantway passthrough',
  'grantway grant',
  ...(BASELINE === undefined ? [] : (['baseline passthrough', 'baseline grant'] as const)),
] as const;
type PathName = (typeof PATHS)[number];

interface Stats {
  p50Ms: number;
  p99Ms: number;
  samples: number;
}
interface Row {
  clients: number;
  path: PathName;
  /** The sync sent right after each burst. */
  first: Stats;
  /** Every sync while a burst was being answered. */
  during: Stats;
  /** Each client's commit, from the burst's start to the reply to its sync. */
  commit: Stats;
  /** Each burst, to its last commit answered. */
  burst: Stats;
}

const stats = (xs: readonly number[]): Stats => ({
  p50Ms: quantile(xs, 0.5),
  p99Ms: quantile(xs, 0.99),
  samples: xs.length,
});

/** One set of `n` frame clients and a probe on a path, kept across its bursts. */
class Rig {
  readonly clients: FrameClient[];
  readonly probe: BlockingClient;
  readonly first: number[] = [];
  readonly during: number[] = [];
  readonly commit: number[] = [];
  readonly burstMs: number[] = [];

  constructor(path: string, n: number) {
    this.clients = Array.from({ length: n }, () => new FrameClient(path, registry, 1920, 1080));
    this.probe = new BlockingClient(path, registry);
    commitBurst(this.clients, this.probe); // first commits: pages faulted in, extents filled
  }

  burst(): void {
    const answered: number[] = [];
    const samples = commitBurst(this.clients, this.probe, answered).map((us) => us / 1000);
    this.first.push(samples[0]!);
    this.during.push(...samples);
    this.commit.push(...answered.map((us) => us / 1000));
    this.burstMs.push(Math.max(...answered) / 1000);
  }

  close(): void {
    for (const c of this.clients) c.close();
    this.probe.close();
  }
}

async function startCompositor(): Promise<{
  socketPath: string;
  runtimeDir: string;
  pid: number;
  stop(): Promise<void>;
}> {
  if (values.compositor === 'weston') return startWeston({ socketName: 'bench-burst-weston' });
  if (values.compositor !== 'embedded') throw new Error('--compositor embedded|weston');
  return startEmbeddedCompositor({ socketName: 'bench-burst-embedded' });
}

async function main(): Promise<void> {
  const compositor = await startCompositor();
  const bridges: (Target & { pid: number })[] = [];
  const rows: Row[] = [];
  try {
    const paths = new Map<PathName, string>([['direct', compositor.socketPath]]);
    const cRelay = await startCRelay(compositor.runtimeDir, compositor.socketPath);
    bridges.push({ ...cRelay, pid: cRelay.pids()[0]! });
    paths.set('C relay', cRelay.path);
    const nodeRelay = await startNodeRelay(compositor.runtimeDir, compositor.socketPath);
    bridges.push({ ...nodeRelay, pid: nodeRelay.pids()[0]! });
    paths.set('Node relay', nodeRelay.path);
    for (const mode of ['passthrough', 'grant'] as const) {
      const bridge = await startBridge(compositor.runtimeDir, compositor.socketPath, { mode });
      bridges.push(bridge);
      paths.set(`grantway ${mode}`, bridge.path);
    }
    if (BASELINE !== undefined) {
      for (const mode of ['passthrough', 'grant'] as const) {
        const base = await startBridge(compositor.runtimeDir, compositor.socketPath, {
          mode,
          dist: BASELINE,
          label: 'baseline',
        });
        bridges.push(base);
        paths.set(`baseline ${mode}`, base.path);
      }
    }
    if (values.pin !== undefined)
      for (const pid of [process.pid, compositor.pid, ...bridges.map((b) => b.pid)])
        pinToCpu(pid, values.pin);
    for (const n of COUNTS) {
      // Every rig lives through the row; bursts rotate between them, so drift on a
      // noisy machine hits all alike.
      const rigs = PATHS.map((p) => new Rig(paths.get(p)!, n));
      try {
        for (let i = 0; i < BURSTS; i++) {
          for (let j = 0; j < rigs.length; j++) rigs[(i + j) % rigs.length]!.burst();
        }
      } finally {
        for (const r of rigs) r.close();
      }
      PATHS.forEach((path, k) => {
        const rig = rigs[k]!;
        const row: Row = {
          clients: n,
          path,
          first: stats(rig.first),
          during: stats(rig.during),
          commit: stats(rig.commit),
          burst: stats(rig.burstMs),
        };
        rows.push(row);
        if (!values.json)
          process.stderr.write(
            `${n} clients, ${path}: first sync p50 ${row.first.p50Ms.toFixed(2)} ms p99 ${row.first.p99Ms.toFixed(2)} ms; during p50 ${row.during.p50Ms.toFixed(2)} ms p99 ${row.during.p99Ms.toFixed(2)} ms (${row.during.samples} syncs); burst p50 ${row.burst.p50Ms.toFixed(1)} ms\n`,
          );
      });
    }
  } finally {
    for (const b of bridges) await b.stop();
    await compositor.stop();
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const placement = values.pin === undefined ? 'scheduler-placed' : `all on CPU ${values.pin}`;
  const ms = (x: number): string => `${x.toFixed(2)} ms`;
  const added = (x: number): string => `${x < 0 ? '−' : '+'}${Math.abs(x).toFixed(2)} ms`;
  const lines = [
    `\nwl_display.sync latency during a burst of 1080p full-damage commits, and the commits' own (${values.compositor} compositor, ${placement}, ${BURSTS} bursts each; added: over direct)\n`,
    '| clients | path | first sync p50 | p99 | added p50 | added p99 | during p50 | during p99 | commit p50 | commit p99 | burst p50 | frames/s |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const n of COUNTS) {
    const d = rows.find((r) => r.clients === n && r.path === 'direct')!;
    for (const r of rows.filter((x) => x.clients === n)) {
      const isDirect = r.path === 'direct';
      lines.push(
        `| ${n} | ${r.path} | ${ms(r.first.p50Ms)} | ${ms(r.first.p99Ms)} | ${isDirect ? '' : added(r.first.p50Ms - d.first.p50Ms)} | ${isDirect ? '' : added(r.first.p99Ms - d.first.p99Ms)} | ${ms(r.during.p50Ms)} | ${ms(r.during.p99Ms)} | ${ms(r.commit.p50Ms)} | ${ms(r.commit.p99Ms)} | ${ms(r.burst.p50Ms)} | ${Math.round((n * 1000) / r.burst.p50Ms)} |`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:burst failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
