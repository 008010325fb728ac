// `npm run bench:burst`: what one client's big commits cost everyone else. N clients
// (1, 16, 64) each commit a 1920×1080 ARGB8888 frame with full damage at the same
// moment, and a separate client measures wl_display.sync roundtrips back to back until
// every commit has been answered: direct to the compositor, and through `grantway
// proxy` in grant mode (which copies every frame into grant pages). Two figures per
// row, p50 and p99 over several bursts: the first sync, sent right after the burst
// (what the soak measured), and every sync during the burst.
//
// The compositor is the embedded one by default (it does little per commit, so what
// the bridge adds shows); --compositor weston uses weston headless, whose commit
// handler reads every byte of a shm buffer (weston 10), ~40 ms per 1080p frame here.
// --pin CPU puts the bench, the compositor and the bridge (its copy threads too) on one
// CPU; by default the scheduler places them.

import { parseArgs } from 'node:util';
import { startEmbeddedCompositor } from '../harness/embedded.js';
import { startWeston } from '../harness/real/weston.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { BlockingClient } from './bench/blocking-client.js';
import { pinToCpu, startBridge, type Target } from './bench/targets.js';
import { commitBurst, FrameClient, quantile } from './bench/workloads.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1,16,64' },
    bursts: { type: 'string', default: '20' },
    compositor: { type: 'string', default: 'embedded' },
    pin: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const COUNTS = values.clients.split(',').map(Number);
const BURSTS = Number(values.bursts);
const registry = new ProtocolRegistry();
const PATHS = ['direct', 'grantway grant'] as const;
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

  constructor(path: string, n: number) {
    this.clients = Array.from({ length: n }, () => new FrameClient(path, registry, 1920, 1080));
    this.probe = new BlockingClient(path, registry);
    commitBurst(this.clients, this.probe); // first commits: pages faulted in, extents filled
  }

  burst(): void {
    const samples = commitBurst(this.clients, this.probe).map((us) => us / 1000);
    this.first.push(samples[0]!);
    this.during.push(...samples);
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
  let bridge: (Target & { pid: number }) | undefined;
  const rows: Row[] = [];
  try {
    bridge = await startBridge(compositor.runtimeDir, compositor.socketPath, { mode: 'grant' });
    if (values.pin !== undefined)
      for (const pid of [process.pid, compositor.pid, bridge.pid]) pinToCpu(pid, values.pin);
    const paths: Record<PathName, string> = {
      direct: compositor.socketPath,
      'grantway grant': bridge.path,
    };
    for (const n of COUNTS) {
      // Both rigs live through the row; bursts alternate between them, so drift on a
      // noisy machine hits both alike.
      const rigs = PATHS.map((p) => new Rig(paths[p], n));
      try {
        for (let i = 0; i < BURSTS; i++) {
          const order = i % 2 === 0 ? [0, 1] : [1, 0];
          for (const k of order) rigs[k]!.burst();
        }
      } finally {
        for (const r of rigs) r.close();
      }
      PATHS.forEach((path, k) => {
        const rig = rigs[k]!;
        const row: Row = { clients: n, path, first: stats(rig.first), during: stats(rig.during) };
        rows.push(row);
        if (!values.json)
          process.stderr.write(
            `${n} clients, ${path}: first sync p50 ${row.first.p50Ms.toFixed(2)} ms p99 ${row.first.p99Ms.toFixed(2)} ms; during p50 ${row.during.p50Ms.toFixed(2)} ms p99 ${row.during.p99Ms.toFixed(2)} ms (${row.during.samples} syncs)\n`,
          );
      });
    }
  } finally {
    await bridge?.stop();
    await compositor.stop();
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  const placement = values.pin === undefined ? 'scheduler-placed' : `all on CPU ${values.pin}`;
  const ms = (x: number): string => `${x.toFixed(2)} ms`;
  const lines = [
    `\nwl_display.sync latency during a burst of 1080p full-damage commits (${values.compositor} compositor, ${placement}, ${BURSTS} bursts each)\n`,
    '| clients | sync | direct p50 | direct p99 | bridge p50 | bridge p99 | added p50 | added p99 |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const n of COUNTS) {
    const d = rows.find((r) => r.clients === n && r.path === 'direct')!;
    const b = rows.find((r) => r.clients === n && r.path !== 'direct')!;
    for (const which of ['first', 'during'] as const) {
      const [x, y] = [d[which], b[which]];
      lines.push(
        `| ${n} | ${which === 'first' ? 'first' : `during (${x.samples}/${y.samples})`} | ${ms(x.p50Ms)} | ${ms(x.p99Ms)} | ${ms(y.p50Ms)} | ${ms(y.p99Ms)} | ${ms(y.p50Ms - x.p50Ms)} | ${ms(y.p99Ms - x.p99Ms)} |`,
      );
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:burst failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
