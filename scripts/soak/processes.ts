// The soak run's child-process plumbing: how a child runs this code (from TypeScript
// sources under tsx, or built), its environment, the compositor it runs against, and
// waiting for a child or a condition with a deadline.

import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startEmbeddedCompositor } from '../../harness/embedded.js';
import { startWeston } from '../../harness/real/weston.js';
import { processAlive } from './proc.js';
import type { CompositorKind } from './types.js';

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));
const here = fileURLToPath(import.meta.url);
const fromSource = here.endsWith('.ts');
const ext = fromSource ? '.ts' : '.js';

/** The CLI's entry and the soak worker's, as this module runs (source or dist). */
export const CLI_ENTRY = join(dirname(here), '..', '..', 'bridge', 'cli', `main${ext}`);
export const WORKER_ENTRY = join(dirname(here), `worker${ext}`);

/** node flags that let a child run TypeScript when this module itself runs from source. */
export function loaderArgs(): string[] {
  if (!fromSource) return [];
  const tsx = createRequire(import.meta.url).resolve('tsx');
  return ['--import', pathToFileURL(tsx).href];
}

export function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // vitest's loader hooks must not reach the children
  delete env.WAYLAND_DISPLAY;
  delete env.WAYLAND_SOCKET;
  return env;
}

export interface StartedCompositor {
  readonly pid: number;
  readonly socketPath: string;
  readonly runtimeDir: string;
  alive(): boolean;
  stop(): Promise<void>;
}

export async function startCompositor(kind: CompositorKind): Promise<StartedCompositor> {
  if (kind === 'weston') {
    const w = await startWeston({ socketName: 'soak-weston', width: 1280, height: 800 });
    return {
      pid: w.pid,
      socketPath: w.socketPath,
      runtimeDir: w.runtimeDir,
      alive: () => processAlive(w.pid),
      stop: () => w.stop(),
    };
  }
  const c = await startEmbeddedCompositor({
    socketName: 'soak-embedded',
    width: 1280,
    height: 800,
  });
  let exited = false;
  void c.exited.then(() => (exited = true));
  return {
    pid: c.pid,
    socketPath: c.socketPath,
    runtimeDir: c.runtimeDir,
    alive: () => !exited,
    stop: () => c.stop(),
  };
}

/** Resolves true once the child has exited, false after `timeoutMs`. */
export function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return Promise.race([
    new Promise<boolean>((resolve) => child.once('exit', () => resolve(true))),
    sleep(timeoutMs).then(() => false),
  ]);
}

/** Polls `condition`; throws with `what` when `failed` names a failure or time runs out. */
export async function waitFor(
  what: string,
  condition: () => boolean,
  timeoutMs: number,
  failed: () => string | null,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    const failure = failed();
    if (failure !== null) throw new Error(`${what}: ${failure}`);
    if (Date.now() > deadline) throw new Error(`${what}: timed out after ${timeoutMs} ms`);
    await sleep(50);
  }
}
