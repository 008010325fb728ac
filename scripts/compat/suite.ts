// The compatibility suite: for each compositor, start it headless in a private runtime
// dir (or record why it cannot start), photograph the empty desktop, then run each
// program direct, in grant mode and in passthrough mode, one at a time, and judge the
// bridged runs against the direct one. The compositor is restarted if a program took it
// down. Everything a run left (stderr with WAYLAND_DEBUG, bridge log, record,
// screenshots) stays under the output directory for diagnosis.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodePng, encodePng, type RgbaImage } from '../../harness/compositor/png.js';
import {
  type CompositorKind,
  CompositorStartError,
  type RealCompositor,
  compositorCommand,
  startCompositor,
} from '../../harness/real/compositors.js';
import { commandAvailable } from '../../harness/real/process.js';
import { type CellVerdict, judgeBridged, judgeDirect } from './judge.js';
import type { ProgramSpec } from './programs.js';
import { cellDir, type Mode, type ProgramRun, runProgram } from './run-program.js';

export interface SuiteOptions {
  readonly compositors: readonly CompositorKind[];
  readonly programs: readonly ProgramSpec[];
  readonly outDir: string;
  /** dist/bridge/cli/main.js */
  readonly cli: string;
  readonly mapTimeoutMs?: number;
  readonly progress?: (line: string) => void;
}

export interface ProgramResult {
  readonly program: string;
  /** Commands it needs that are not installed (then nothing ran). */
  readonly missing: readonly string[];
  readonly runs: Partial<Record<Mode, ProgramRun>>;
  readonly verdicts: Partial<Record<Mode, CellVerdict>>;
  /** The compositor died during this program's runs (it was restarted). */
  readonly compositorDied?: string;
}

export interface CompositorResult {
  readonly kind: CompositorKind;
  readonly version: string;
  /** Why it could not start (the suite ran nothing on it). */
  readonly startError?: string;
  readonly screenshots: string;
  readonly programs: readonly ProgramResult[];
  readonly seconds: number;
}

export interface SuiteResult {
  readonly startedAt: string;
  readonly seconds: number;
  readonly compositors: readonly CompositorResult[];
}

const PACKAGES: Record<CompositorKind, string> = {
  weston: 'weston',
  sway: 'sway',
  cage: 'cage',
  mutter: 'mutter',
  kwin: 'kwin-wayland',
};

function packageVersion(kind: CompositorKind): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', PACKAGES[kind]], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return commandAvailable(compositorCommand(kind)) ? 'unknown version' : 'not installed';
  }
}

const missingCommands = (program: ProgramSpec): string[] =>
  program.requires.filter((c) => (c.startsWith('/') ? !existsSync(c) : !commandAvailable(c)));

/** An X display number nobody on this machine uses now. */
function freeXDisplay(): number {
  const used = new Set<number>();
  for (const dir of ['/tmp/.X11-unix', '/tmp']) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const m = /^(?:X|\.X)(\d+)(?:-lock)?$/.exec(name);
      if (m !== null) used.add(Number(m[1]));
    }
  }
  for (let n = 60 + Math.floor(Math.random() * 100); ; n++) if (!used.has(n)) return n;
}

/** A still test picture for the image viewers: colour bars and a gradient. */
function testImage(): RgbaImage {
  const width = 320;
  const height = 200;
  const data = new Uint8Array(width * height * 4);
  const bars = [0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x000000];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      const bar = bars[Math.floor((x * bars.length) / width)]!;
      const shade = y < height / 2 ? 255 : Math.round((255 * x) / width);
      data[i] = y < height / 2 ? (bar >> 16) & 0xff : shade;
      data[i + 1] = y < height / 2 ? (bar >> 8) & 0xff : shade;
      data[i + 2] = y < height / 2 ? bar & 0xff : shade;
      data[i + 3] = 255;
    }
  }
  return { width, height, data };
}

function loadImage(file: string): RgbaImage | undefined {
  try {
    return decodePng(readFileSync(file));
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function emptyDesktop(
  compositor: RealCompositor,
  dir: string,
): Promise<RgbaImage | undefined> {
  if ('unavailable' in compositor.screenshots) return undefined;
  await sleep(1000); // the background is drawn
  const file = join(dir, 'empty.png');
  try {
    await compositor.screenshot(file);
    return loadImage(file);
  } catch {
    return undefined;
  }
}

export async function runSuite(options: SuiteOptions): Promise<SuiteResult> {
  const began = Date.now();
  const say = options.progress ?? (() => {});
  await mkdir(options.outDir, { recursive: true });
  await chmod(options.outDir, 0o755);
  const image = join(options.outDir, 'test-image.png');
  await writeFile(image, encodePng(testImage()));
  await chmod(image, 0o644);
  const results: CompositorResult[] = [];
  for (const kind of options.compositors) {
    const t0 = Date.now();
    const version = packageVersion(kind);
    let compositor: RealCompositor;
    try {
      compositor = await startCompositor(kind);
    } catch (error) {
      const reason =
        error instanceof CompositorStartError
          ? `${error.message}${lastOutputLine(error.output)}`
          : String(error);
      say(`${kind}: ${reason}`);
      results.push({
        kind,
        version,
        startError: reason,
        screenshots: '—',
        programs: [],
        seconds: 0,
      });
      continue;
    }
    const base = await cellDir(compositor, join(options.outDir, kind));
    let empty = await emptyDesktop(compositor, base);
    // weston's desktop shell places each new toplevel with random() (never seeded), so a
    // fresh weston for every run puts a program's windows where they were in its direct
    // run; the others place windows the same way every time and are started once.
    const freshPerRun = kind === 'weston';
    let runsOnThis = 0;
    const programResults: ProgramResult[] = [];
    try {
      for (const program of options.programs) {
        const missing = missingCommands(program);
        if (missing.length > 0) {
          programResults.push({ program: program.id, missing, runs: {}, verdicts: {} });
          continue;
        }
        const runs: Partial<Record<Mode, ProgramRun>> = {};
        const verdicts: Partial<Record<Mode, CellVerdict>> = {};
        let died: string | undefined;
        for (const mode of ['direct', 'grant', 'passthrough'] as const) {
          if (freshPerRun && runsOnThis > 0) {
            await compositor.stop();
            compositor = await startCompositor(kind);
          }
          runsOnThis++;
          const dir = await cellDir(compositor, join(base, program.id.replace(/\//g, '+'), mode));
          const ctx = { dir, xDisplay: freeXDisplay(), image };
          const run = await runProgram(compositor, program, mode, ctx, {
            cli: options.cli,
            mapTimeoutMs: options.mapTimeoutMs ?? 20_000,
          });
          runs[mode] = run;
          if (!compositor.alive()) {
            died = `${kind} died during the ${mode} run${lastOutputLine(compositor.output())}`;
            say(died);
            await compositor.stop();
            compositor = await startCompositor(kind);
            empty = await emptyDesktop(compositor, base);
          }
        }
        Object.assign(verdicts, judgeProgram(runs, program, kind, empty));
        say(
          `${kind} ${program.id}: ${(['direct', 'grant', 'passthrough'] as const)
            .map(
              (m) =>
                `${m} ${verdicts[m]!.status}${verdicts[m]!.reasons.length > 0 ? ` (${verdicts[m]!.reasons[0]})` : ''}`,
            )
            .join('; ')}`,
        );
        programResults.push({
          program: program.id,
          missing: [],
          runs,
          verdicts,
          ...(died === undefined ? {} : { compositorDied: died }),
        });
      }
    } finally {
      await compositor.stop();
    }
    results.push({
      kind,
      version,
      screenshots:
        'tool' in compositor.screenshots
          ? compositor.screenshots.tool
          : `none: ${compositor.screenshots.unavailable}`,
      programs: programResults,
      seconds: (Date.now() - t0) / 1000,
    });
  }
  return {
    startedAt: new Date(began).toISOString(),
    seconds: (Date.now() - began) / 1000,
    compositors: results,
  };
}

/** The three verdicts of one program on one compositor, from its three runs. */
function judgeProgram(
  runs: Partial<Record<Mode, ProgramRun>>,
  program: ProgramSpec,
  kind: CompositorKind,
  empty: RgbaImage | undefined,
): Partial<Record<Mode, CellVerdict>> {
  const direct = runs.direct!;
  const verdicts: Partial<Record<Mode, CellVerdict>> = {
    direct: judgeDirect(direct, program, loadImage, kind),
  };
  for (const mode of ['grant', 'passthrough'] as const) {
    verdicts[mode] = judgeBridged(runs[mode]!, direct, verdicts.direct!, program, empty, loadImage);
  }
  return verdicts;
}

/**
 * Judges the runs of an earlier suite again (results.json read back, screenshots still in
 * its output directory), after the rules or the programs' notes changed.
 */
export function rejudge(
  result: SuiteResult,
  specs: readonly ProgramSpec[],
  outDir: string,
): SuiteResult {
  return {
    ...result,
    compositors: result.compositors.map((c) => ({
      ...c,
      programs: c.programs.map((p) => {
        const program = specs.find((s) => s.id === p.program);
        if (program === undefined || p.runs.direct === undefined) return p;
        // JSON turned the globals maps into plain objects.
        const runs = Object.fromEntries(
          Object.entries(p.runs).map(([mode, run]) => [
            mode,
            {
              ...run,
              debug: {
                ...run.debug,
                globals: new Map(Object.entries(run.debug.globals as unknown as object)),
              },
            },
          ]),
        ) as Partial<Record<Mode, ProgramRun>>;
        const empty = loadImage(join(outDir, c.kind, 'empty.png'));
        return { ...p, verdicts: judgeProgram(runs, program, c.kind, empty) };
      }),
    })),
  };
}

function lastOutputLine(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const line = lines.at(-1);
  return line === undefined ? '' : ` — last output: ${line.slice(0, 200)}`;
}
