// The fault tests' rig: a compositor process that can be killed and started again on
// the same socket path (the embedded one or weston), a grant-mode bridge in this process
// in front of it (assembled as the CLI assembles it), and a grant backend that checks
// every free against the ground truth — the maps and fds of every process on the
// machine (bridge/grants/verifying.ts) — so an unsafe reclaim is counted at the moment
// it happens. Scripted windows that paint until
// told to stop, and notice a hang-up as a clean disconnect rather than waiting forever.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type ScriptedPool, ScriptedWindow } from '../../harness/client/scripted-client.js';
import { type AssembledBridge, assembleBridge } from '../../bridge/assembly/assemble.js';
import type { VerifyingBackend } from '../../bridge/grants/verifying.js';
import { ProtocolRegistry } from '../../bridge/protocol/registry.js';
import type { Bridge } from '../../bridge/relay/bridge.js';
import type { Lifecycle } from '../../bridge/shm/lifecycle.js';
import { close as closeFd, connectUnix } from '../../ffi/libc.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves true once `predicate` holds, false after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

// ---- compositor processes ----------------------------------------------------------

export type CompositorKind = 'embedded' | 'weston';

export interface CompositorProcess {
  readonly kind: CompositorKind;
  readonly pid: number;
  readonly exited: Promise<void>;
  /** Signals the whole process group (weston's helpers too). */
  kill(signal: NodeJS.Signals): void;
  /** SIGKILL and wait. */
  stop(): Promise<void>;
}

/** Every process the rig started and has not seen exit, for the exit hook. */
const live = new Set<number>();
process.once('exit', () => {
  for (const pid of live) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

function track(child: ChildProcess, kind: CompositorKind): CompositorProcess {
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${kind} did not start`);
  live.add(pid);
  const exited = new Promise<void>((resolve) => {
    // 'close', not 'exit': by then its stdio pipes are closed too (no fd left behind).
    child.once('close', () => {
      live.delete(pid);
      resolve();
    });
  });
  child.stdout?.resume();
  child.stderr?.resume();
  const kill = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pid, signal);
    } catch {
      // gone
    }
  };
  return {
    kind,
    pid,
    exited,
    kill,
    async stop() {
      kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * Starts a compositor listening at `dir/name` (a stale socket left there by a killed
 * one is taken over, as libwayland does) and resolves once it accepts connections.
 */
export async function startCompositorAt(
  kind: CompositorKind,
  dir: string,
  name: string,
  knobs: { keepPoolsMappedMs?: number } = {},
): Promise<CompositorProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: dir };
  delete env.WAYLAND_DISPLAY;
  delete env.WAYLAND_SOCKET;
  delete env.NODE_OPTIONS;
  const path = join(dir, name);
  const child =
    kind === 'embedded'
      ? spawn(
          process.execPath,
          [
            '--import',
            tsx,
            join(repo, 'bridge/cli/main.ts'),
            'compositor',
            '--socket',
            path,
            '--control',
            `${path}.control`,
            '--log-level',
            'error',
            ...(knobs.keepPoolsMappedMs === undefined
              ? []
              : ['--keep-pools-mapped-ms', String(knobs.keepPoolsMappedMs)]),
          ],
          { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
        )
      : spawn('weston', ['--backend=headless-backend.so', `--socket=${name}`, '--idle-time=0'], {
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        });
  const proc = track(child, kind);
  let dead = false;
  void proc.exited.then(() => (dead = true));
  const up = await until(() => {
    if (dead) return true;
    if (kind === 'embedded' && !existsSync(`${path}.control`)) return false;
    try {
      closeFd(connectUnix(path));
      return true;
    } catch {
      return false;
    }
  }, 20_000);
  if (!up || dead) {
    await proc.stop();
    throw new Error(`${kind} did not come up at ${path}`);
  }
  return proc;
}

// ---- the rig -----------------------------------------------------------------------

const registry = new ProtocolRegistry();

/** A grant-mode bridge (one Lifecycle, one backend) that can be restarted in place. */
export class BridgeRig {
  readonly dir: string;
  readonly upstreamPath: string;
  readonly listenPath: string;
  assembled!: AssembledBridge;
  backend!: VerifyingBackend;
  lifecycle!: Lifecycle;
  bridge!: Bridge;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'gw-faults-'));
    this.upstreamPath = join(this.dir, 'compositor');
    this.listenPath = join(this.dir, 'bridge');
  }

  /** A fresh bridge (and backend) in front of whatever listens at upstreamPath. */
  startBridge(): void {
    this.assembled = assembleBridge({
      listenPath: this.listenPath,
      upstreamPath: this.upstreamPath,
      registry,
      verifyFrees: true,
    });
    this.backend = this.assembled.verifier!;
    ({ lifecycle: this.lifecycle, bridge: this.bridge } = this.assembled);
  }

  async startCompositor(
    kind: CompositorKind,
    knobs: { keepPoolsMappedMs?: number } = {},
  ): Promise<CompositorProcess> {
    return startCompositorAt(kind, this.dir, 'compositor', knobs);
  }

  /** Whether something accepts connections at listenPath now. */
  serves(): boolean {
    try {
      closeFd(connectUnix(this.listenPath));
      return true;
    } catch {
      return false;
    }
  }

  /** Grant extents the bridge holds now. */
  get extentsInUse(): number {
    return this.backend.stats().extentsInUse;
  }

  /** Stops the bridge; with `settleMs`, first waits for E3 on what its clients left. */
  async stopBridge(settleMs = 0): Promise<void> {
    this.bridge.close();
    if (settleMs > 0) {
      await until(() => this.extentsInUse === 0, settleMs);
    }
    this.assembled.close();
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- painting windows ----------------------------------------------------------------

/**
 * A scripted window that paints double-buffered frames until stopped, and records a
 * hang-up (any loop error) instead of waiting for a frame callback forever.
 */
export class Painter {
  frames = 0;
  error: Error | undefined;
  private pool: ScriptedPool | undefined;
  private stopped = false;
  private failed!: (e: Error) => void;
  private readonly failure = new Promise<never>((_r, reject) => {
    this.failed = reject;
  });
  readonly done: Promise<void>;

  private constructor(
    readonly window: ScriptedWindow,
    size: number,
  ) {
    void this.failure.catch(() => undefined);
    this.done = this.run(size);
  }

  static async open(socketPath: string, size = 64, title = 'painter'): Promise<Painter> {
    const made: { painter?: Painter } = {};
    const window = await ScriptedWindow.open(socketPath, {
      title,
      onError: (e) => made.painter?.fail(e),
    });
    made.painter = new Painter(window, size);
    return made.painter;
  }

  private fail(e: Error): void {
    this.error ??= e;
    this.failed(e);
  }

  private async run(size: number): Promise<void> {
    const pool = this.window.createPool(2 * size * size * 4);
    this.pool = pool;
    const buffers = [0, size * size * 4].map((o) => this.window.createBuffer(pool, size, size, o));
    try {
      while (!this.stopped && this.error === undefined) {
        const b = buffers[this.frames % 2]!;
        b.fill(0xff000000 | ((this.frames * 2654435761) & 0xffffff));
        await Promise.race([this.window.commit(b), this.failure]);
        this.frames++;
      }
    } catch {
      // the hang-up is in `error`
    }
  }

  /** Frames painted after now, once `count` more are done (or a failure). */
  async paintMore(count: number, timeoutMs = 10_000): Promise<boolean> {
    const target = this.frames + count;
    return until(() => this.frames >= target || this.error !== undefined, timeoutMs);
  }

  /** Hangs up abruptly, pool and buffers live, a frame possibly in flight (like a kill). */
  hangUp(): void {
    this.window.close();
    this.fail(new Error('hung up'));
  }

  /** Stops painting, disconnects, and frees the client's side of its pool. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.race([this.done, sleep(2000)]);
    this.window.close();
    this.pool?.destroy(); // the proxy died with the connection; this frees fd and mapping
  }
}

/** Resident set size of this process, in MiB. */
export function rssMiB(): number {
  return process.memoryUsage().rss / (1024 * 1024);
}

/** Our own open fds. */
export function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * Our fd count once what closes asynchronously (child stdio pipes, node:net sockets)
 * has closed: waits up to 2 s for it to come back to `before`, then returns it.
 */
export async function fdsSettled(before: number): Promise<number> {
  await until(() => fdCount() <= before, 2000);
  return fdCount();
}
