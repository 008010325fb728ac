// `npm run bench:proxy`: what a path to the compositor costs a client, every path in
// one run against weston headless: direct, `grantway proxy` in passthrough and in
// grant mode, Debian's waypipe (client + server on this machine), and a 70-line C
// relay as the floor a relay cannot go under. Each is a separate process, as deployed.
//
// Per path: the median wl_display.sync roundtrip (and its 10th–90th percentile spread:
// on a VM, whether a roundtrip woke a halted vCPU shows there) and the request-flood
// throughput, medians over --runs runs that visit the paths in a rotating order (drift
// on a noisy machine hits all alike), and the ratio to direct. For each relay, the CPU
// time it spent per relayed message (from its threads' schedstat: what
// process.cpuUsage() reports, summed over the processes that relay) and its resident
// memory per idle client. Two placements: as the scheduler places them, and all on one
// CPU (--cpu), where wake-ups are cheap and the figures show the work on the path.
//
// --baseline DIST adds the proxies of another build (a copy of main's dist/, say) as
// "baseline passthrough" and "baseline grant": a change and what it changes, side by
// side in one run on the same machine state. --no-waypipe leaves waypipe out.

import { parseArgs } from 'node:util';
import { startWeston } from '../harness/real/weston.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { BlockingClient } from './bench/blocking-client.js';
import {
  cpuTimeNs,
  pinToCpu,
  reapedChildrenCpuNs,
  rssBytes,
  startBridge,
  startCRelay,
  startNodeRelay,
  startWaypipe,
  type Target,
} from './bench/targets.js';
import { measureFlood, measureRoundtrip, median } from './bench/workloads.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    roundtrips: { type: 'string', default: '5000' },
    flood: { type: 'string', default: '400000' },
    'idle-clients': { type: 'string', default: '50' },
    cpu: { type: 'string', default: '0' },
    'no-pin': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    /** Also run another build's proxies (its dist directory) as "baseline …" paths. */
    baseline: { type: 'string' },
    'no-waypipe': { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const ROUNDTRIPS = Number(values.roundtrips);
const FLOOD = Number(values.flood);
const IDLE = Number(values['idle-clients']);
const registry = new ProtocolRegistry();

/** One path's figures in one run. */
interface Sample {
  run: number;
  path: string;
  roundtripUs: number;
  /** The run's 10th and 90th percentile roundtrips (workloads.ts: RoundtripSpread). */
  roundtripP10Us: number;
  roundtripP90Us: number;
  floodPerSec: number;
  /** The relay's CPU µs per message it relayed (undefined: direct). */
  roundtripCpuUs: number | undefined;
  floodCpuUs: number | undefined;
}

interface PathSummary {
  path: string;
  roundtripUs: number;
  roundtripP10Us: number;
  roundtripP90Us: number;
  floodPerSec: number;
  roundtripRatio: number;
  floodRatio: number;
  roundtripCpuUs: number | undefined;
  floodCpuUs: number | undefined;
}

interface Placement {
  placement: string;
  paths: PathSummary[];
  samples: Sample[];
}

/** Runs `work` and returns its result with the relay's CPU µs per message. */
function withCpu<T>(
  target: Target | undefined,
  messages: number,
  work: () => T,
): [T, number | undefined] {
  // Relays forked per connection (waypipe's) are counted live, or once reaped.
  const cpuNow = (): number => {
    const pids = target?.pids() ?? [];
    return cpuTimeNs(pids) + reapedChildrenCpuNs(pids);
  };
  const cpu0 = cpuNow();
  const result = work();
  const cpu = cpuNow() - cpu0;
  return [result, target === undefined ? undefined : cpu / 1000 / messages];
}

/** Lets the relay process of the last connection exit and be reaped (waypipe forks one). */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 100));

async function measurePlacement(
  placement: string,
  targets: readonly { name: string; path: string; target: Target | undefined }[],
): Promise<Placement> {
  const samples: Sample[] = [];
  for (let run = 1; run <= RUNS; run++) {
    // A rotating order: each path goes first once every targets.length runs.
    const order = targets.map((_, i) => targets[(i + run - 1) % targets.length]!);
    for (const t of order) {
      // sync → done + delete_id: three messages per roundtrip (the warm-up counts too).
      await settle();
      const [roundtrip, roundtripCpuUs] = withCpu(t.target, 3 * (ROUNDTRIPS + 3000), () =>
        measureRoundtrip(t.path, registry, ROUNDTRIPS),
      );
      const roundtripUs = roundtrip.p50Us;
      await settle();
      const [floodPerSec, floodCpuUs] = withCpu(t.target, FLOOD, () =>
        measureFlood(t.path, registry, FLOOD),
      );
      samples.push({
        run,
        path: t.name,
        roundtripUs,
        roundtripP10Us: roundtrip.p10Us,
        roundtripP90Us: roundtrip.p90Us,
        floodPerSec,
        roundtripCpuUs,
        floodCpuUs,
      });
      if (!values.json)
        process.stderr.write(
          `${placement}, run ${run}, ${t.name}: roundtrip ${roundtripUs.toFixed(1)} µs, flood ${(floodPerSec / 1e6).toFixed(2)} M req/s\n`,
        );
    }
  }
  const of = (name: string, key: keyof Sample): number | undefined => {
    const xs = samples
      .filter((s) => s.path === name)
      .map((s) => s[key])
      .filter((x): x is number => typeof x === 'number');
    return xs.length === 0 ? undefined : median(xs);
  };
  const direct = { rt: of('direct', 'roundtripUs')!, flood: of('direct', 'floodPerSec')! };
  return {
    placement,
    samples,
    paths: targets.map((t) => {
      const roundtripUs = of(t.name, 'roundtripUs')!;
      const floodPerSec = of(t.name, 'floodPerSec')!;
      return {
        path: t.name,
        roundtripUs,
        roundtripP10Us: of(t.name, 'roundtripP10Us')!,
        roundtripP90Us: of(t.name, 'roundtripP90Us')!,
        floodPerSec,
        roundtripRatio: roundtripUs / direct.rt,
        floodRatio: floodPerSec / direct.flood,
        roundtripCpuUs: of(t.name, 'roundtripCpuUs'),
        floodCpuUs: of(t.name, 'floodCpuUs'),
      };
    }),
  };
}

/** Resident memory the relay adds per connected, idle client (registry bound, one roundtrip). */
async function rssPerIdleClient(target: Target, path: string): Promise<number> {
  const quiet = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 300));
  await quiet();
  const before = rssBytes(target.pids());
  const clients: BlockingClient[] = [];
  try {
    for (let i = 0; i < IDLE; i++) {
      const c = new BlockingClient(path, registry);
      c.bindGlobals({ wl_compositor: 4, wl_shm: 1 });
      clients.push(c);
    }
    await quiet();
    return (rssBytes(target.pids()) - before) / IDLE;
  } finally {
    for (const c of clients) c.close();
  }
}

function table(p: Placement): string {
  const rows = [
    `\n${p.placement}: medians of ${RUNS} runs (${ROUNDTRIPS} roundtrips, ${FLOOD} requests each)\n`,
    '| path | roundtrip | ratio | roundtrip p10–p90 | flood | ratio | CPU/msg roundtrip | CPU/msg flood |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  const cpu = (x: number | undefined): string => (x === undefined ? '' : `${x.toFixed(2)} µs`);
  for (const s of p.paths)
    rows.push(
      `| ${s.path} | ${s.roundtripUs.toFixed(1)} µs | ${s.roundtripRatio.toFixed(2)}× | ${s.roundtripP10Us.toFixed(0)}–${s.roundtripP90Us.toFixed(0)} µs | ${(s.floodPerSec / 1e6).toFixed(2)} M/s | ${s.floodRatio.toFixed(2)}× | ${cpu(s.roundtripCpuUs)} | ${cpu(s.floodCpuUs)} |`,
    );
  return rows.join('\n');
}

async function main(): Promise<void> {
  const weston = await startWeston({ socketName: 'bench-weston' });
  const started: Target[] = [];
  try {
    const dir = weston.runtimeDir;
    const up = weston.socketPath;
    const baseline = values.baseline;
    const relays = [
      await startBridge(dir, up, { mode: 'passthrough' }),
      await startBridge(dir, up, { mode: 'grant' }),
      ...(baseline === undefined
        ? []
        : [
            await startBridge(dir, up, { mode: 'passthrough', dist: baseline, label: 'baseline' }),
            await startBridge(dir, up, { mode: 'grant', dist: baseline, label: 'baseline' }),
          ]),
      ...(values['no-waypipe'] ? [] : [await startWaypipe(dir, up)]),
      await startCRelay(dir, up),
      await startNodeRelay(dir, up),
    ];
    started.push(...relays);
    const targets = [
      { name: 'direct', path: up, target: undefined },
      ...relays.map((r) => ({ name: r.name, path: r.path, target: r })),
    ];
    const placements = [await measurePlacement('scheduler-placed (as deployed)', targets)];
    if (!values['no-pin']) {
      const pids = [process.pid, weston.pid, ...relays.flatMap((r) => r.pids())];
      for (const pid of pids) pinToCpu(pid, values.cpu);
      placements.push(
        await measurePlacement(`all on CPU ${values.cpu} (the work on the path)`, targets),
      );
    }
    const rss: Record<string, number> = {};
    for (const r of relays) rss[r.name] = await rssPerIdleClient(r, r.path);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ placements, rssPerIdleClient: rss }, null, 2)}\n`);
      return;
    }
    const rssRows = [
      `\nresident memory per idle client (${IDLE} clients, registry bound)\n`,
      '| path | RSS per client |',
      '| --- | --- |',
      ...relays.map((r) => `| ${r.name} | ${(rss[r.name]! / 1024).toFixed(0)} KiB |`),
    ];
    process.stdout.write(
      `\nweston headless, client → [path] → weston${placements.map(table).join('\n')}\n${rssRows.join('\n')}\n`,
    );
  } finally {
    for (const t of started) await t.stop();
    await weston.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:proxy failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
