// Runs one program once, in one mode, on one compositor, and collects what it leaves:
// direct (straight to the compositor), or through the bridge in grant or passthrough
// mode (`grantway run`, or a `grantway proxy` in front of the compositor for the
// two-client clipboard cell). A window program runs until it has mapped and been
// photographed, then is stopped with SIGTERM; a one-shot runs until it exits. Every
// process runs in its own group, as the compositor's user, and is gone when this returns.

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RealCompositor } from '../../harness/real/compositors.js';
import { killGroup, sleep } from '../../harness/real/children.js';
import { runClient } from '../../harness/real/process.js';
import { type PoolLatencySamples, poolLatencySamples } from '../../bridge/shm/report.js';
import { readLifecycleTrace } from '../../bridge/shm/trace-file.js';
import { type BridgeLogFacts, type DebugFacts, DebugScanner, scanBridgeLog } from './observe.js';
import { CLIPBOARD_TEXT, type ProgramContext, type ProgramSpec } from './programs.js';

export const modes = ['direct', 'grant', 'passthrough'] as const;
export type Mode = (typeof modes)[number];

/** `grantway report --json` of the run's --record file. */
export interface RecordSummary {
  readonly pools: number;
  readonly buffers: number;
  readonly commits: number;
  readonly poolsAlive: number;
  readonly evidenceReached: Readonly<Record<'E0' | 'E1' | 'E2' | 'E3', number>>;
  /** Each pool's waits once let go (read from the record itself, for per-compositor figures). */
  readonly latencies?: PoolLatencySamples;
}

export interface ProgramRun {
  readonly mode: Mode;
  /** Why it could not be started at all. */
  readonly startError?: string;
  readonly exit: { readonly code: number | null; readonly signal: string | null } | null;
  /** We stopped it (a window program after its screenshot, or at the time limit). */
  readonly stoppedByUs: boolean;
  /** It neither mapped nor exited within the time limit. */
  readonly timedOut: boolean;
  readonly debug: DebugFacts;
  /** Bridged runs: the bridge's own log. */
  readonly bridge?: BridgeLogFacts;
  /** Bridged runs: the record's summary, or why there is none. */
  readonly record?: RecordSummary | { readonly error: string };
  /** Screenshots taken after mapping (direct runs take two, to tell a still). */
  readonly shots: readonly string[];
  readonly shotError?: string;
  /** The clipboard cell: what wl-paste printed. */
  readonly pasted?: string;
  readonly ms: number;
}

export interface RunSettings {
  /** dist/bridge/cli/main.js */
  readonly cli: string;
  /** Waiting for a window to map, or a one-shot to exit. */
  readonly mapTimeoutMs: number;
}

interface Spawned {
  readonly child: ChildProcess;
  readonly scanner: DebugScanner;
  readonly lines: string[];
  stdout: string;
  exit: { code: number | null; signal: string | null } | null;
  readonly closed: Promise<void>;
  spawnError: Error | null;
}

const MAX_STDOUT = 64 * 1024;

/** A process in its own group, its stderr scanned line by line and kept in `log`. */
function start(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  compositor: RealCompositor,
  cwd: string,
  log: string,
): Spawned {
  const child = spawn(argv[0]!, argv.slice(1), {
    env,
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(compositor.user === undefined
      ? {}
      : { uid: compositor.user.uid, gid: compositor.user.gid }),
  });
  const file = createWriteStream(log);
  const scanner = new DebugScanner();
  const lines: string[] = [];
  const state: Spawned = {
    child,
    scanner,
    lines,
    stdout: '',
    exit: null,
    spawnError: null,
    closed: new Promise<void>((resolve) => {
      child.once('close', () => {
        file.end();
        resolve();
      });
      child.once('error', (error) => {
        state.spawnError = error;
        file.end();
        resolve();
      });
    }),
  };
  child.once('exit', (code, signal) => {
    state.exit = { code, signal };
  });
  let partial = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    file.write(chunk);
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const line of parts) {
      scanner.feed(line);
      if (line.startsWith('{"level":')) lines.push(line);
    }
  });
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    if (state.stdout.length < MAX_STDOUT) state.stdout += chunk;
  });
  return state;
}

async function until(condition: () => boolean, timeoutMs: number, pollMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await sleep(pollMs);
  }
  return true;
}

/** SIGTERM to the group, then SIGKILL; resolves once its pipes are closed. */
async function stop(p: Spawned, graceMs = 8000): Promise<void> {
  const pid = p.child.pid;
  if (pid === undefined) return;
  if (p.exit === null) killGroup(pid, 'SIGTERM');
  const ended = await Promise.race([p.closed.then(() => true), sleep(graceMs).then(() => false)]);
  killGroup(pid, 'SIGKILL'); // whatever it left behind (an orphaned Xwayland, wl-copy)
  if (!ended) await Promise.race([p.closed, sleep(2000)]);
}

function programEnv(
  compositor: RealCompositor,
  program: ProgramSpec,
  display: string,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['WAYLAND_SOCKET', 'DISPLAY', 'NODE_OPTIONS', 'DBUS_SESSION_BUS_ADDRESS'])
    delete env[name];
  return {
    ...env,
    ...compositor.clientEnv,
    ...program.env,
    WAYLAND_DISPLAY: display,
    WAYLAND_DEBUG: 'client',
    LANG: 'C.UTF-8',
  };
}

async function summarizeRecord(
  settings: RunSettings,
  record: string,
): Promise<RecordSummary | { error: string }> {
  if (!existsSync(record)) return { error: 'no record file' };
  const result = await runClient(
    process.execPath,
    [settings.cli, 'report', '--json', record],
    {},
    30_000,
  );
  if (result.exitCode !== 0) return { error: `grantway report failed: ${result.stderr.trim()}` };
  let summary: RecordSummary;
  try {
    summary = JSON.parse(result.stdout) as RecordSummary;
  } catch {
    return { error: 'grantway report printed no JSON' };
  }
  // The report has read this file already, so it parses.
  return { ...summary, latencies: poolLatencySamples(readLifecycleTrace(record)) };
}

async function screenshots(
  compositor: RealCompositor,
  dir: string,
  count: number,
): Promise<{ shots: string[]; error?: string }> {
  if ('unavailable' in compositor.screenshots) return { shots: [] };
  const shots: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      if (i > 0) await sleep(1000);
      const file = join(dir, `shot-${i}.png`);
      await compositor.screenshot(file);
      shots.push(file);
    }
    return { shots };
  } catch (error) {
    return { shots, error: error instanceof Error ? error.message : String(error) };
  }
}

/** A directory for one run's files, owned by the compositor's user. */
export async function cellDir(compositor: RealCompositor, path: string): Promise<string> {
  await mkdir(path, { recursive: true, mode: 0o755 });
  if (compositor.user !== undefined) await chown(path, compositor.user.uid, compositor.user.gid);
  return path;
}

function bridged(
  settings: RunSettings,
  mode: Mode,
  compositor: RealCompositor,
  record: string,
): string[] {
  return [
    process.execPath,
    settings.cli,
    'run',
    '--mode',
    mode,
    '--upstream',
    compositor.socketPath,
    '--record',
    record,
    '--log-level',
    'debug',
    '--',
  ];
}

export async function runProgram(
  compositor: RealCompositor,
  program: ProgramSpec,
  mode: Mode,
  ctx: ProgramContext,
  settings: RunSettings,
): Promise<ProgramRun> {
  if (program.kind === 'clipboard') return runClipboard(compositor, mode, ctx, settings);
  const began = Date.now();
  const record = join(ctx.dir, 'record.jsonl');
  const argv = [
    ...(mode === 'direct' ? [] : bridged(settings, mode, compositor, record)),
    ...program.command(ctx),
  ];
  const env = programEnv(compositor, program, compositor.socketName);
  const p = start(argv, env, compositor, ctx.dir, join(ctx.dir, 'stderr.log'));
  let shots: { shots: string[]; error?: string } = { shots: [] };
  let stoppedByUs: boolean;
  let timedOut: boolean;
  if (program.kind === 'window') {
    const settled = await until(
      () => p.scanner.mapped || p.exit !== null || p.spawnError !== null,
      settings.mapTimeoutMs,
    );
    timedOut = !settled;
    if (p.scanner.mapped && p.exit === null) {
      await sleep(program.settleMs ?? 1500);
      if (p.exit === null)
        shots = await screenshots(compositor, ctx.dir, mode === 'direct' ? 2 : 1);
    }
    stoppedByUs = p.exit === null;
    await stop(p);
  } else {
    timedOut = !(await until(
      () => p.exit !== null || p.spawnError !== null,
      settings.mapTimeoutMs,
    ));
    stoppedByUs = timedOut;
    await stop(p);
  }
  return {
    mode,
    ...(p.spawnError === null ? {} : { startError: p.spawnError.message }),
    exit: p.exit,
    stoppedByUs,
    timedOut,
    debug: p.scanner.facts(),
    ...(mode === 'direct'
      ? {}
      : { bridge: scanBridgeLog(p.lines), record: await summarizeRecord(settings, record) }),
    shots: shots.shots,
    ...(shots.error === undefined ? {} : { shotError: shots.error }),
    ms: Date.now() - began,
  };
}

/**
 * wl-copy (kept in the foreground) offers a text; wl-paste, another client, reads it
 * back through the pipe fd the data offer carries. Bridged, both go through one
 * `grantway proxy`, so the fds cross the bridge both ways.
 */
async function runClipboard(
  compositor: RealCompositor,
  mode: Mode,
  ctx: ProgramContext,
  settings: RunSettings,
): Promise<ProgramRun> {
  const began = Date.now();
  const record = join(ctx.dir, 'record.jsonl');
  let proxy: Spawned | undefined;
  let display = compositor.socketName;
  if (mode !== 'direct') {
    display = join(ctx.dir, 'grantway-proxy');
    proxy = start(
      [
        process.execPath,
        settings.cli,
        'proxy',
        '--listen',
        display,
        '--upstream',
        compositor.socketPath,
        '--mode',
        mode,
        '--record',
        record,
        '--log-level',
        'debug',
      ],
      programEnv(compositor, { id: 'proxy', requires: [], kind: 'oneshot', command: () => [] }, ''),
      compositor,
      ctx.dir,
      join(ctx.dir, 'proxy.log'),
    );
    await until(() => existsSync(display) || proxy!.exit !== null, 10_000);
  }
  const spec: ProgramSpec = { id: 'wl-copy', requires: [], kind: 'window', command: () => [] };
  const env = programEnv(compositor, spec, display);
  const copy = start(
    ['wl-copy', '--foreground', CLIPBOARD_TEXT],
    env,
    compositor,
    ctx.dir,
    join(ctx.dir, 'wl-copy.log'),
  );
  // The selection is set once wl-copy has sent set_selection and the compositor has it.
  await until(() => copy.exit !== null, 1500);
  const paste = start(
    ['wl-paste', '--no-newline'],
    env,
    compositor,
    ctx.dir,
    join(ctx.dir, 'stderr.log'),
  );
  const exited = await until(() => paste.exit !== null, settings.mapTimeoutMs);
  await stop(paste);
  await stop(copy);
  if (proxy !== undefined) await stop(proxy);
  const copyFacts = copy.scanner.facts();
  const facts = paste.scanner.facts();
  return {
    mode,
    exit: paste.exit,
    stoppedByUs: !exited,
    timedOut: !exited,
    debug: {
      ...facts,
      protocolErrors: [
        ...copyFacts.protocolErrors.map((e) => `wl-copy: ${e}`),
        ...facts.protocolErrors,
      ],
      otherLines: [...copyFacts.otherLines.map((l) => `wl-copy: ${l}`), ...facts.otherLines],
    },
    ...(proxy === undefined
      ? {}
      : { bridge: scanBridgeLog(proxy.lines), record: await summarizeRecord(settings, record) }),
    shots: [],
    pasted: paste.stdout,
    ms: Date.now() - began,
  };
}
