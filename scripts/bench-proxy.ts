// `npm run bench:proxy`: what the bridge costs a client, measured side by side in one
// run against weston headless: wl_display.sync roundtrip latency and request-flood
// throughput, direct vs through `grantway proxy` (a separate process, as in real use).
// Runs alternate direct/bridge order so drift on a noisy machine hits both alike; the
// figures are medians of several runs, and the verdict is the ratio.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { encodeMessage } from '../bridge/wire/encode.js';
import { startWeston } from '../harness/real/weston.js';
import { BlockingClient } from './bench/blocking-client.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    roundtrips: { type: 'string', default: '5000' },
    flood: { type: 'string', default: '400000' },
    json: { type: 'boolean', default: false },
    cpu: { type: 'string', default: '0' },
    'no-pin': { type: 'boolean', default: false },
  },
});
// Two placements are measured. As the scheduler places them, a wake-up across CPUs
// costs ~40 µs on these VMs (a C socketpair ping-pong: ~80 µs across CPUs, ~12 µs on
// one), and every relay adds two of them. With client, bridge and compositor pinned to
// one CPU, wake-ups are cheap and the figures show the work on the path. --no-pin
// skips the second placement.
const PIN = !values['no-pin'];
const RUNS = Number(values.runs);
const ROUNDTRIPS = Number(values.roundtrips);
const FLOOD = Number(values.flood);
// Enough roundtrips first for V8 to have optimised the bridge's hot paths, as in a
// long-running bridge; the bridge process lives across runs, so later runs are warm anyway.
const WARMUP = 3000;

const registry = new ProtocolRegistry();
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Median wl_display.sync roundtrip in µs over ROUNDTRIPS, after a warm-up. */
function measureRoundtrip(path: string): number {
  const client = new BlockingClient(path, registry);
  try {
    const id = client.allocateId();
    for (let i = 0; i < WARMUP; i++) client.roundtrip(id);
    const samples: number[] = new Array<number>(ROUNDTRIPS);
    for (let i = 0; i < ROUNDTRIPS; i++) {
      const t0 = process.hrtime.bigint();
      client.roundtrip(id);
      samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
    }
    return median(samples);
  } finally {
    client.close();
  }
}

/** Requests/s: FLOOD wl_surface.damage requests written flat out, then a roundtrip. */
function measureFlood(path: string): number {
  const client = new BlockingClient(path, registry);
  try {
    const bound = client.bindGlobals({ wl_compositor: 4 });
    const surface = client.allocateId();
    client.request(bound.get('wl_compositor')!, 'wl_compositor', 'create_surface', [surface]);
    const cb = client.allocateId();
    client.roundtrip(cb);
    const damage = client.message('wl_surface', 'damage', 'requests');
    const one = encodeMessage(surface, damage.opcode, damage.spec, [0, 0, 1, 1]).bytes;
    const stream = new Uint8Array(one.length * FLOOD);
    for (let i = 0; i < FLOOD; i++) stream.set(one, i * one.length);
    const t0 = process.hrtime.bigint();
    client.write(stream);
    client.roundtrip(cb); // every request has been handled once the sync comes back
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    return FLOOD / seconds;
  } finally {
    client.close();
  }
}

async function waitForSocket(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path)) {
    if (Date.now() > deadline) throw new Error(`bridge socket ${path} did not appear`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Moves every thread of a process onto one CPU (util-linux taskset). */
function pinToCpu(pid: number, cpu: string): void {
  const r = spawnSync('taskset', ['-a', '-pc', cpu, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`taskset failed for pid ${pid}: ${r.stderr || r.error?.message}`);
}

type Target = 'direct' | 'bridge';
interface Sample {
  run: number;
  target: Target;
  roundtripUs: number;
  floodPerSec: number;
}
interface Summary {
  placement: string;
  direct: { roundtripUs: number; floodPerSec: number };
  bridge: { roundtripUs: number; floodPerSec: number };
  roundtripRatio: number;
  floodRatio: number;
  samples: Sample[];
}

/** RUNS alternating direct/bridge measurements; medians and ratios. */
function measurePlacement(placement: string, paths: Record<Target, string>): Summary {
  const samples: Sample[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const order: Target[] = run % 2 === 1 ? ['direct', 'bridge'] : ['bridge', 'direct'];
    for (const target of order) {
      const roundtripUs = measureRoundtrip(paths[target]);
      const floodPerSec = measureFlood(paths[target]);
      samples.push({ run, target, roundtripUs, floodPerSec });
      if (!values.json) {
        process.stderr.write(
          `${placement}, run ${run}, ${target.padEnd(6)}: roundtrip ${roundtripUs.toFixed(1)} µs, flood ${(floodPerSec / 1e6).toFixed(2)} M req/s\n`,
        );
      }
    }
  }
  const pick = (target: Target, key: 'roundtripUs' | 'floodPerSec'): number =>
    median(samples.filter((r) => r.target === target).map((r) => r[key]));
  const direct = {
    roundtripUs: pick('direct', 'roundtripUs'),
    floodPerSec: pick('direct', 'floodPerSec'),
  };
  const bridge = {
    roundtripUs: pick('bridge', 'roundtripUs'),
    floodPerSec: pick('bridge', 'floodPerSec'),
  };
  return {
    placement,
    direct,
    bridge,
    roundtripRatio: bridge.roundtripUs / direct.roundtripUs,
    floodRatio: bridge.floodPerSec / direct.floodPerSec,
    samples,
  };
}

function table(s: Summary): string {
  const line = (name: string, d: string, b: string, ratio: string, target: string): string =>
    `| ${name.padEnd(27)} | ${d.padStart(10)} | ${b.padStart(10)} | ${ratio.padStart(6)} | ${target.padEnd(6)} |\n`;
  return (
    `\n${s.placement}: medians of ${RUNS} runs (${ROUNDTRIPS} roundtrips, ${FLOOD} requests each)\n\n` +
    line('', 'direct', 'bridge', 'ratio', 'target') +
    `|${'-'.repeat(29)}|${'-'.repeat(12)}|${'-'.repeat(12)}|${'-'.repeat(8)}|${'-'.repeat(8)}|\n` +
    line(
      'roundtrip (wl_display.sync)',
      `${s.direct.roundtripUs.toFixed(1)} µs`,
      `${s.bridge.roundtripUs.toFixed(1)} µs`,
      `${s.roundtripRatio.toFixed(2)}×`,
      '≤ 2.0×',
    ) +
    line(
      'request flood',
      `${(s.direct.floodPerSec / 1e6).toFixed(2)} M/s`,
      `${(s.bridge.floodPerSec / 1e6).toFixed(2)} M/s`,
      `${s.floodRatio.toFixed(2)}×`,
      '≥ 0.8×',
    )
  );
}

async function main(): Promise<void> {
  const weston = await startWeston({ socketName: 'bench-weston' });
  const bridgePath = join(weston.runtimeDir, 'bench-bridge');
  const cli = fileURLToPath(new URL('../bridge/cli/main.js', import.meta.url));
  const bridge = spawn(
    process.execPath,
    [cli, 'proxy', '--listen', bridgePath, '--upstream', weston.socketPath, '--log-level', 'warn'],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  try {
    await waitForSocket(bridgePath, 10_000);
    const paths = { direct: weston.socketPath, bridge: bridgePath };
    const summaries = [measurePlacement('scheduler-placed (as deployed)', paths)];
    if (PIN) {
      for (const pid of [process.pid, weston.pid, bridge.pid!]) pinToCpu(pid, values.cpu);
      summaries.push(measurePlacement(`all on CPU ${values.cpu} (the work on the path)`, paths));
    }
    if (values.json) process.stdout.write(`${JSON.stringify(summaries, null, 2)}\n`);
    else
      process.stdout.write(
        `\nweston headless, client → [grantway proxy] → weston${summaries.map(table).join('')}`,
      );
  } finally {
    bridge.kill('SIGTERM');
    await weston.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:proxy failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
