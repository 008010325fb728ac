// foot scrolling a long output through the bridge, measured as it goes: the test that
// foot works at default settings (test/foot-sway.test.ts) and `npm run bench:foot` both
// run this. foot declares 512 MiB sparse pools, places each buffer in them and scrolls
// by creating the next buffer a few rows further on and punching a hole behind it; what
// matters is whether the bridge's grant extents hold no more than foot's own pools.
//
// The bridge runs in this process, assembled as the CLI assembles it (default limits,
// memfd backend, reclaim scheduler with the default policy, the E3 oracle), in front of
// a real compositor; foot runs as the compositor's user. Every `sampleMs` a sample is
// taken from the kernel and the bridge: the pages foot's pool files hold (/proc/PID/fd,
// st_blocks of each "foot-wayland-shm-buffer-pool" memfd), the pages the bridge's grant
// extents hold (st_blocks of each of its "grantway-extent-N" memfds, live or waiting
// for reclaim), the refs granted (what a Xen grant table would hold: the backend's
// refsInUse), and the bytes foot's live buffers cover, as the limits count them.

import { type ChildProcess, spawn } from 'node:child_process';
import { chown } from 'node:fs/promises';
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { assembleBridge } from '../../bridge/index.js';
import { E3_BLIND_MESSAGE } from '../../bridge/oracle/index.js';
import type { LifecycleEvent } from '../../bridge/shm/index.js';
import type { Lifecycle } from '../../bridge/shm/index.js';
import { killGroup, sleep } from './children.js';
import type { RealCompositor } from './compositors.js';

const PAGE = 4096;

export interface FootScrollOptions {
  readonly compositor: RealCompositor;
  readonly mode: 'grant' | 'passthrough';
  /** Lines printed (default 10 000), in bursts of `burst` lines (default 100). */
  readonly lines?: number;
  readonly burst?: number;
  /** Pause between bursts, so foot renders (and scrolls) between them (default 50 ms). */
  readonly pauseMs?: number;
  /** Sampling period (default 100 ms). */
  readonly sampleMs?: number;
  /** Grant pools whole, as before sparse extents: the baseline (needs `limits`). */
  readonly whole?: boolean;
  /** Per-client limits (default: the bridge's defaults). */
  readonly limits?: Record<string, number>;
  /** Give up after this long (default 120 s). */
  readonly timeoutMs?: number;
}

export interface FootSample {
  /** ms since foot was started. */
  readonly t: number;
  /** Bytes foot's shm pool files hold (their data pages), and their declared sizes. */
  readonly footBytes: number;
  readonly footDeclared: number;
  /** Bytes foot's live buffers cover, as the bridge's limits count them. */
  readonly coveredBytes: number;
  /** Bytes the bridge's grant extents hold (every extent not yet freed). */
  readonly extentBytes: number;
  /** Grant refs in use: every page of a whole extent, the granted pages of a sparse one. */
  readonly refsInUse: number;
  readonly extents: number;
}

export interface FootScrollResult {
  readonly mode: 'grant' | 'passthrough';
  readonly whole: boolean;
  readonly samples: readonly FootSample[];
  /** foot's exit code (null: killed, see signal). */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly ms: number;
  readonly stderr: string;
  /** The bridge's warnings and errors (limits hit, protocol errors, failed sessions). */
  readonly bridgeWarnings: readonly string[];
  /**
   * The bridge said its E3 walk cannot see every process here (passthrough pools are
   * the client's files, judged by that walk): such pools are judged at E2 instead.
   */
  readonly e3Unavailable: boolean;
  /** Commits the bridge saw (foot drew this many frames). */
  readonly commits: number;
  /** Pools created, and those that reached E3 by the end. */
  readonly pools: number;
  readonly poolsAtE3: number;
  /** Refs still granted once foot is gone and its pools are reclaimed. */
  readonly refsLeft: number;
}

/** The scrolling command foot runs: `lines` lines in bursts, then exits. */
export function scrollCommand(lines: number, burst: number, pauseMs: number): string {
  const bursts = Math.ceil(lines / burst);
  const pause = (pauseMs / 1000).toFixed(3);
  return `i=0; while [ $i -lt ${bursts} ]; do seq $((i*${burst}+1)) $(( (i+1)*${burst} )); sleep ${pause}; i=$((i+1)); done`;
}

export async function runFootScroll(options: FootScrollOptions): Promise<FootScrollResult> {
  const { compositor, mode } = options;
  const lines = options.lines ?? 10_000;
  const burst = options.burst ?? 100;
  const warnings: string[] = [];
  let e3Unavailable = false;
  const log = pino(
    { level: 'warn' },
    {
      write: (line: string) => {
        const entry = JSON.parse(line) as { msg?: string; err?: { message?: string } };
        const text = [entry.msg, entry.err?.message].filter(Boolean).join(': ');
        // What this machine lets the oracle see, said once; not a failure of the run.
        if (entry.msg === E3_BLIND_MESSAGE) e3Unavailable = true;
        else warnings.push(text);
      },
    },
  );
  let commits = 0;
  const pools = new Set<string>();
  const atE3 = new Set<string>();
  const listenPath = join(compositor.runtimeDir, `grantway-foot-${mode}`);
  const { bridge, lifecycle } = assembleBridge({
    listenPath,
    upstreamPath: compositor.socketPath,
    log,
    mode,
    source: 'grantway foot-scroll',
    whole: options.whole,
    limits: options.limits ?? {},
    sinks: [
      (e: LifecycleEvent): void => {
        if (e.type === 'buffer-committed') commits++;
        if (e.type === 'pool-created') pools.add(`${e.client}:${e.poolKey}`);
        if (e.type === 'evidence' && e.level === 'E3') atE3.add(`${e.client}:${e.poolKey}`);
      },
    ],
  });
  const t0 = performance.now();
  let foot: ChildProcess | undefined;
  try {
    const user = compositor.user;
    if (user !== undefined) await chown(listenPath, user.uid, user.gid);
    const command = scrollCommand(lines, burst, options.pauseMs ?? 50);
    foot = spawn('foot', ['--override=cursor.blink=no', 'sh', '-c', command], {
      env: { ...process.env, ...compositor.clientEnv, WAYLAND_DISPLAY: listenPath },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
      ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
    });
    let stderr = '';
    foot.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-64 * 1024);
    });
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const exited = new Promise<void>((resolve) => {
      foot!.once('exit', (code, signal) => {
        exit = { code, signal };
        resolve();
      });
      foot!.once('error', () => resolve());
    });
    const samples: FootSample[] = [];
    const deadline = t0 + (options.timeoutMs ?? 120_000);
    while (exit === undefined && performance.now() < deadline) {
      samples.push(sample(lifecycle, foot.pid, performance.now() - t0));
      await Promise.race([exited, sleep(options.sampleMs ?? 100)]);
    }
    const timedOut = exit === undefined;
    if (timedOut && foot.pid !== undefined) killGroup(foot.pid, 'SIGKILL');
    await exited;
    // foot is gone: its pools go to E3 and the scheduler reclaims their extents.
    await lifecycle.settle(5000);
    await sleep(200);
    return {
      mode,
      whole: options.whole === true,
      samples,
      exitCode: exit?.code ?? null,
      signal: exit?.signal ?? null,
      timedOut,
      ms: performance.now() - t0,
      stderr,
      bridgeWarnings: warnings,
      e3Unavailable,
      commits,
      pools: pools.size,
      poolsAtE3: atE3.size,
      refsLeft: lifecycle.backend?.stats().refsInUse ?? 0,
    };
  } finally {
    if (foot?.pid !== undefined && foot.exitCode === null) killGroup(foot.pid, 'SIGKILL');
    bridge.close();
    lifecycle.close();
  }
}

/** One sample: foot's pool files and the bridge's extents, from the kernel; the bridge's counts. */
function sample(lifecycle: Lifecycle, footPid: number | undefined, t: number): FootSample {
  const foot = footPid === undefined ? [] : memfds(footPid, 'foot-wayland-shm');
  const extents = memfds(process.pid, 'grantway-extent-');
  let covered = 0;
  for (const tracker of lifecycle.trackers) {
    for (const pool of tracker.poolStates()) covered += pool.coverage.covered * PAGE;
  }
  return {
    t: Math.round(t),
    footBytes: sum(foot.map((f) => f.allocated)),
    footDeclared: sum(foot.map((f) => f.size)),
    coveredBytes: covered,
    extentBytes: sum(extents.map((f) => f.allocated)),
    refsInUse: lifecycle.backend?.stats().refsInUse ?? 0,
    extents: extents.length,
  };
}

/** The memfds a process holds whose name starts with `prefix`: size and allocated bytes. */
function memfds(pid: number, prefix: string): { size: number; allocated: number }[] {
  const out: { size: number; allocated: number }[] = [];
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out; // gone
  }
  for (const fd of fds) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (!link.startsWith(`/memfd:${prefix}`)) continue;
      const st = statSync(`/proc/${pid}/fd/${fd}`);
      out.push({ size: st.size, allocated: st.blocks * 512 });
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
