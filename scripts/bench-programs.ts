// `npm run bench:programs`: what a path to the compositor costs real programs, each next
// to its own direct run, on a real desktop compositor: sway headless (pixman, 1920×1080,
// the output at 240 Hz so a program that draws on every frame callback runs as fast as
// its path lets it, not at 60 frames a second whatever the path). Paths: direct,
// `grantway proxy` in passthrough and in grant mode, and Debian's waypipe, each a
// separate process as deployed (scripts/bench/targets.ts); sway and the programs run as
// nobody where we are root (sway refuses root).
//
// Programs (what a user would notice):
// - mpv plays N frames of a 1280×720 test pattern through its wl_shm output, untimed:
//   frames per second, start-up included (a frame is a full-damage commit);
// - grim takes N screenshots of the whole output (wlr-screencopy into a wl_shm buffer
//   the compositor writes and the client reads): milliseconds per screenshot, each a
//   fresh process;
// - foot prints N lines and exits: what a terminal scrolling flat out costs.
// Medians over --runs rounds that visit the paths in a rotating order; the relay's CPU
// time (all its threads and processes) per round; ratios to direct from the same run.

import { chown } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { type RealCompositor, startCompositor } from '../harness/real/compositors.js';
import { runClient } from '../harness/real/process.js';
import {
  cpuTimeNs,
  reapedChildrenCpuNs,
  startBridge,
  startWaypipe,
  type Target,
} from './bench/targets.js';
import { median } from './bench/workloads.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    frames: { type: 'string', default: '600' },
    shots: { type: 'string', default: '20' },
    lines: { type: 'string', default: '500000' },
    'refresh-hz': { type: 'string', default: '240' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const FRAMES = Number(values.frames);
const SHOTS = Number(values.shots);
const LINES = Number(values.lines);
const PROGRAM_TIMEOUT_MS = 180_000;

/** A program run the bench times: what it runs and how many units of work that is. */
interface Program {
  readonly name: string;
  /** What one unit is, for the per-unit column. */
  readonly unit: string;
  readonly units: number;
  /** Runs the program once against `display`; resolves when it is done; throws if it failed. */
  readonly run: (compositor: RealCompositor, display: string) => Promise<void>;
}

/** Runs a client as the compositor's user against `display`; throws on a non-zero exit. */
async function client(
  compositor: RealCompositor,
  display: string,
  command: string,
  args: readonly string[],
): Promise<void> {
  const env = { ...compositor.clientEnv, WAYLAND_DISPLAY: display };
  const r = await runClient(command, args, env, PROGRAM_TIMEOUT_MS, undefined, compositor.user);
  if (r.exitCode !== 0)
    throw new Error(
      `${command} ${r.timedOut ? 'timed out' : `exited ${r.exitCode ?? r.signal}`}: ${r.stderr.slice(-500)}`,
    );
}

const programs: readonly Program[] = [
  {
    name: `mpv, ${FRAMES} frames 1280×720 (wlshm)`,
    unit: 'frame',
    units: FRAMES,
    run: (c, display) =>
      client(c, display, 'mpv', [
        '--no-config',
        '--vo=wlshm',
        '--untimed',
        '--no-audio',
        `--frames=${FRAMES}`,
        'av://lavfi:testsrc2=size=1280x720:rate=60',
      ]),
  },
  {
    name: `grim, ${SHOTS} screenshots 1920×1080`,
    unit: 'shot',
    units: SHOTS,
    run: async (c, display) => {
      for (let i = 0; i < SHOTS; i++) await client(c, display, 'grim', ['-t', 'ppm', '/dev/null']);
    },
  },
  {
    name: `foot, ${LINES} lines`,
    unit: 'line',
    units: LINES,
    run: (c, display) =>
      client(c, display, 'foot', ['--override=cursor.blink=no', 'sh', '-c', `seq 1 ${LINES}`]),
  },
];

interface PathUnderTest {
  readonly name: string;
  readonly display: string;
  readonly target: Target | undefined;
}

/** Starts the relays in sway's runtime dir and lets the compositor's user connect to them. */
async function startPaths(c: RealCompositor): Promise<PathUnderTest[]> {
  const relays = [
    await startBridge(c.runtimeDir, c.socketPath, { mode: 'passthrough' }),
    await startBridge(c.runtimeDir, c.socketPath, { mode: 'grant' }),
    await startWaypipe(c.runtimeDir, c.socketPath),
  ];
  if (c.user !== undefined) for (const r of relays) await chown(r.path, c.user.uid, c.user.gid);
  return [
    { name: 'direct', display: c.socketPath, target: undefined },
    ...relays.map((r) => ({ name: r.name, display: r.path, target: r })),
  ];
}

interface Sample {
  readonly program: string;
  readonly path: string;
  readonly run: number;
  readonly ms: number;
  /** The relay's CPU time over the program's run, ms (undefined: direct). */
  readonly relayCpuMs: number | undefined;
}

function relayCpuNs(target: Target | undefined): number {
  const pids = target?.pids() ?? [];
  return cpuTimeNs(pids) + reapedChildrenCpuNs(pids);
}

async function measure(c: RealCompositor, paths: readonly PathUnderTest[]): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const program of programs) {
      // A rotating order: each path goes first once every paths.length runs.
      const order = paths.map((_, i) => paths[(i + run - 1) % paths.length]!);
      for (const p of order) {
        const cpu0 = relayCpuNs(p.target);
        const t0 = performance.now();
        await program.run(c, p.display);
        const ms = performance.now() - t0;
        // waypipe's per-connection process is reaped a moment after the client leaves.
        await new Promise((resolve) => setTimeout(resolve, 150));
        const relayCpuMs = p.target === undefined ? undefined : (relayCpuNs(p.target) - cpu0) / 1e6;
        samples.push({ program: program.name, path: p.name, run, ms, relayCpuMs });
        if (!values.json)
          process.stderr.write(
            `run ${run}, ${program.name}, ${p.name}: ${ms.toFixed(0)} ms` +
              (relayCpuMs === undefined ? '\n' : `, relay CPU ${relayCpuMs.toFixed(0)} ms\n`),
          );
      }
    }
  }
  return samples;
}

function table(samples: readonly Sample[], paths: readonly PathUnderTest[]): string {
  const rows = [
    '| program | path | wall (median) | × direct | per unit | relay CPU per run |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const program of programs) {
    const of = (path: string): Sample[] =>
      samples.filter((s) => s.program === program.name && s.path === path);
    const direct = median(of('direct').map((s) => s.ms));
    for (const p of paths) {
      const ms = median(of(p.name).map((s) => s.ms));
      const cpu = of(p.name)
        .map((s) => s.relayCpuMs)
        .filter((x): x is number => x !== undefined);
      const perUnit =
        program.unit === 'frame'
          ? `${((program.units * 1000) / ms).toFixed(1)} frames/s`
          : program.unit === 'shot'
            ? `${(ms / program.units).toFixed(1)} ms/shot`
            : `${((program.units * 1000) / ms / 1e6).toFixed(2)} M lines/s`;
      rows.push(
        `| ${program.name} | ${p.name} | ${ms.toFixed(0)} ms | ${(ms / direct).toFixed(2)}× | ${perUnit} | ${
          cpu.length === 0 ? '' : `${median(cpu).toFixed(0)} ms`
        } |`,
      );
    }
  }
  return rows.join('\n');
}

const compositor = await startCompositor('sway', {
  width: 1920,
  height: 1080,
  refreshHz: Number(values['refresh-hz']),
});
let paths: PathUnderTest[] = [];
try {
  paths = await startPaths(compositor);
  const samples = await measure(compositor, paths);
  if (values.json) process.stdout.write(`${JSON.stringify(samples, null, 2)}\n`);
  else
    process.stdout.write(
      `\nreal programs on sway ${compositor.socketName} (headless, pixman, 1920×1080@${values['refresh-hz']}Hz), medians of ${RUNS} runs, paths rotating\n\n${table(samples, paths)}\n`,
    );
} finally {
  for (const p of paths) await p.target?.stop();
  await compositor.stop();
}
