// `npm run profile -- --workload flood|roundtrip|burst [--mode grant|passthrough]`:
// where a `grantway proxy` process spends its time on one kind of work, against weston
// headless (or, with --compositor embedded, the embedded compositor, which does little
// per commit, so the bridge's share of a burst shows). The bridge runs under `node --cpu-prof`; the table is self time by
// function. It also prints the bridge's CPU time per relayed message, which (unlike
// wall-clock figures) barely moves with the machine's load, and can run the bridge
// under `strace -c -f` (--strace) to count its syscalls, or with --trace-gc.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startWeston } from '../harness/real/weston.js';
import { startEmbeddedCompositor } from '../harness/embedded.js';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import { BlockingClient } from './bench/blocking-client.js';
import { selfTimeTable } from './bench/cpu-profile.js';
import {
  cpuTimeNs,
  pinToCpu,
  startBridge,
  startCRelay,
  startWaypipe,
  type Target,
} from './bench/targets.js';
import {
  commitBurst,
  FrameClient,
  measureFlood,
  measureRoundtrip,
  WARMUP_ROUNDTRIPS,
} from './bench/workloads.js';

const { values } = parseArgs({
  options: {
    workload: { type: 'string', default: 'roundtrip' },
    mode: { type: 'string', default: 'grant' },
    /** Measure another path instead of the bridge (no profile): c-relay, waypipe, direct. */
    other: { type: 'string' },
    roundtrips: { type: 'string', default: '20000' },
    flood: { type: 'string', default: '2000000' },
    clients: { type: 'string', default: '64' },
    bursts: { type: 'string', default: '10' },
    compositor: { type: 'string', default: 'weston' },
    top: { type: 'string', default: '10' },
    strace: { type: 'boolean', default: false },
    'trace-gc': { type: 'boolean', default: false },
    'no-prof': { type: 'boolean', default: false },
    /** Sample on-CPU time with `perf record -e cpu-clock` (kernel and native frames too). */
    perf: { type: 'boolean', default: false },
    /** Pin client, bridge and weston to this CPU (the work on the path, no cross-CPU wake-ups). */
    pin: { type: 'string' },
    /**
     * Count the bridge's user-space instructions with valgrind's callgrind: the workload
     * runs once to warm up, then once counted. Repeatable whatever else the machine runs.
     */
    callgrind: { type: 'boolean', default: false },
  },
});

const registry = new ProtocolRegistry();

/** Runs the workload; returns how many messages the bridge relayed for it (about). */
function run(workload: string, path: string, warm = false): { messages: number; what: string } {
  switch (workload) {
    case 'roundtrip': {
      const n = Number(values.roundtrips);
      const warmup = warm ? 0 : WARMUP_ROUNDTRIPS;
      const us = measureRoundtrip(path, registry, n, warmup).p50Us;
      // sync → done + delete_id: three messages per roundtrip.
      return { messages: 3 * (n + warmup), what: `median ${us.toFixed(1)} µs` };
    }
    case 'flood': {
      const n = Number(values.flood);
      const rate = measureFlood(path, registry, n);
      return { messages: n, what: `${(rate / 1e6).toFixed(2)} M req/s` };
    }
    case 'burst': {
      const clients = Array.from(
        { length: Number(values.clients) },
        () => new FrameClient(path, registry, 1920, 1080),
      );
      const probe = new BlockingClient(path, registry);
      const samples: number[] = [];
      const bursts = Number(values.bursts);
      for (let i = 0; i < bursts; i++) samples.push(...commitBurst(clients, probe));
      for (const c of clients) c.close();
      probe.close();
      samples.sort((a, b) => a - b);
      const p = (q: number): string =>
        (samples[Math.ceil(q * samples.length) - 1]! / 1000).toFixed(2);
      return {
        messages: bursts * clients.length * 6,
        what: `${bursts} bursts of ${clients.length} 1080p commits; probe sync p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`,
      };
    }
    default:
      throw new Error(`unknown workload ${workload} (flood, roundtrip, burst)`);
  }
}

/** What the profile needs of a compositor, weston headless or the embedded one. */
interface Compositor {
  socketPath: string;
  runtimeDir: string;
  pid: number;
  stop(): Promise<void>;
}

function startCompositor(): Promise<Compositor> {
  if (values.compositor === 'weston') return startWeston({ socketName: 'profile-weston' });
  if (values.compositor === 'embedded')
    return startEmbeddedCompositor({ socketName: 'profile-embedded' });
  throw new Error(`--compositor ${values.compositor}: weston or embedded`);
}

async function main(): Promise<void> {
  const workload = values.workload;
  const mode = values.mode === 'passthrough' ? 'passthrough' : 'grant';
  const dir = mkdtempSync(join(tmpdir(), 'grantway-profile-'));
  const weston = await startCompositor();
  let bridge: Target | undefined;
  try {
    bridge = await startTarget(weston, dir, mode);
    await profile(weston, bridge, dir, workload);
  } finally {
    await bridge?.stop();
    await weston.stop();
    if (process.env.KEEP_PROFILE_DIR === undefined) rmSync(dir, { recursive: true, force: true });
    else process.stdout.write(`kept ${dir}\n`);
  }
}

function startTarget(
  weston: Compositor,
  dir: string,
  mode: 'grant' | 'passthrough',
): Promise<Target> {
  const strace = join(dir, 'strace.txt');
  const nodeFlags = [
    ...(values['no-prof'] ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`]),
    ...(values['trace-gc'] ? ['--trace-gc'] : []),
    ...(values.perf ? ['--perf-basic-prof'] : []),
    ...(process.env.NODE_EXTRA_FLAGS ?? '').split(' ').filter(Boolean),
  ];
  const callgrindOut = join(dir, 'callgrind.out');
  const wrap = values.callgrind
    ? [
        'valgrind',
        '--tool=callgrind',
        '--smc-check=all-non-file',
        '--instr-atstart=no',
        `--callgrind-out-file=${callgrindOut}`,
      ]
    : values.strace
      ? ['strace', ...(process.env.STRACE_ARGS ?? '-c -f').split(' ').filter(Boolean), '-o', strace]
      : undefined;
  if (values.other === 'c-relay') return startCRelay(weston.runtimeDir, weston.socketPath);
  if (values.other === 'waypipe') return startWaypipe(weston.runtimeDir, weston.socketPath);
  if (values.other === 'direct') {
    return Promise.resolve({
      name: 'direct',
      path: weston.socketPath,
      pids: () => [weston.pid],
      stop: async () => {},
    });
  }
  return startBridge(weston.runtimeDir, weston.socketPath, { mode, nodeFlags, wrap });
}

async function profile(
  weston: Compositor,
  bridge: Target,
  dir: string,
  workload: string,
): Promise<void> {
  const strace = join(dir, 'strace.txt');
  {
    if (values.pin !== undefined)
      for (const pid of [process.pid, weston.pid, ...bridge.pids()]) pinToCpu(pid, values.pin);
    const perfData = join(dir, 'perf.data');
    const perf = values.perf
      ? spawn(
          'perf',
          [
            'record',
            '-q',
            '-e',
            'cpu-clock',
            '-F',
            '4999',
            '-g',
            '-o',
            perfData,
            '-p',
            bridge.pids().join(','),
          ],
          { stdio: 'inherit' },
        )
      : undefined;
    if (values.callgrind) {
      run(workload, bridge.path);
      const on = spawnSync('callgrind_control', ['-i', 'on', String(bridge.pids()[0])], {
        encoding: 'utf8',
      });
      if (on.status !== 0) throw new Error(`callgrind_control failed: ${on.stdout}${on.stderr}`);
    }
    const cpu0 = cpuTimeNs(bridge.pids());
    const t0 = performance.now();
    const { messages, what } = run(workload, bridge.path, values.callgrind);
    const wall = performance.now() - t0;
    const cpu = (cpuTimeNs(bridge.pids()) - cpu0) / 1e6;
    if (values.callgrind) spawnSync('callgrind_control', ['-i', 'off', String(bridge.pids()[0])]);
    if (perf !== undefined) {
      perf.kill('SIGINT');
      await new Promise((resolve) => perf.once('exit', resolve));
    }
    await bridge.stop();
    process.stdout.write(
      `${workload} through ${bridge.name}: ${what}; its CPU ${cpu.toFixed(0)} ms of ${wall.toFixed(0)} ms wall, ` +
        `${((cpu * 1000) / messages).toFixed(3)} µs per message (${messages} messages)\n`,
    );
    if (values.callgrind) {
      const totals = readdirSync(dir)
        .filter((f) => f.startsWith('callgrind.out'))
        .map((f) => /^totals: (\d+)/m.exec(readFileSync(join(dir, f), 'utf8')))
        .reduce((n, m) => n + (m === null ? 0 : Number(m[1])), 0);
      process.stdout.write(
        `callgrind: ${(totals / 1e6).toFixed(1)} M instructions, ${(totals / messages).toFixed(0)} per message\n`,
      );
    }
    const profile = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (profile !== undefined)
      process.stdout.write(`\n${selfTimeTable(join(dir, profile), Number(values.top))}\n`);
    if (perf !== undefined) {
      const report = spawnSync(
        'perf',
        [
          'report',
          '-i',
          perfData,
          '--stdio',
          '--no-children',
          '--sort',
          process.env.PERF_SORT ?? 'sym',
          '-g',
          'none',
          '--percent-limit',
          process.env.PERF_LIMIT ?? '0.7',
        ],
        { encoding: 'utf8', maxBuffer: 64 << 20 },
      );
      process.stdout.write(
        `\n${report.stdout
          .split('\n')
          .filter((l) => l !== '' && !l.startsWith('#'))
          .join('\n')}\n`,
      );
    }
    if (values.strace) process.stdout.write(`\n${readFileSync(strace, 'utf8')}`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`profile failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
