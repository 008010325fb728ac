// The test harness in one call: a compositor (grantway's embedded one by default, weston
// headless when asked), a bridge in front of it in the chosen mode and with the chosen
// reclaim policy (assembled as the CLI assembles it: bridge/assembly/), and what a test
// of a Wayland client or of a reclaim policy needs — scripted windows or real programs
// through the bridge, the lifecycle events, the scheduler's figures and grant state,
// the compositor's pixels — with one stop() that leaves no process, socket, fd or grant
// behind. Usable from vitest or any Node test runner.

import { join } from 'node:path';
import type { Logger } from 'pino';
import { type AssembledBridge, assembleBridge, type ReclaimFigures } from '../bridge/index.js';
import { silentLogger } from '../bridge/log.js';
import type { Bridge } from '../bridge/relay/bridge.js';
import type { TraceSink } from '../bridge/relay/session.js';
import type { LifecycleEvent, Lifecycle } from '../bridge/shm/index.js';
import type { ReclaimPolicy } from '../policies/index.js';
import { ScriptedWindow, type ScriptedWindowOptions } from './client/scripted-client.js';
import type { KnobsPatch } from './compositor/knobs.js';
import { decodePng, type RgbaImage } from './compositor/png.js';
import { startEmbeddedCompositor } from './embedded.js';
import { type ClientResult, runClient } from './real/process.js';
import { startWeston } from './real/weston.js';

export interface HarnessOptions {
  /** Which compositor to start (default: the embedded one, nothing to install). */
  readonly compositor?: 'embedded' | 'weston';
  /** Bridge mode (default grant, on memfd pages). */
  readonly mode?: 'grant' | 'passthrough';
  /**
   * The reclaim policy (grant mode): a policy, or its name with `policyOptions`, as
   * --policy and --policy-opt take them. Default: evidence at E3.
   */
  readonly policy?: ReclaimPolicy | string;
  readonly policyOptions?: readonly string[] | Readonly<Record<string, string>>;
  /** Misbehaviour knobs of the embedded compositor (release delays, held buffers…). */
  readonly knobs?: KnobsPatch;
  /** Bridge logs (default silent). */
  readonly log?: Logger;
  /** Every message of every connection, WAYLAND_DEBUG style. */
  readonly trace?: TraceSink;
}

/** The compositor under the bridge, whichever it is. */
export interface HarnessCompositor {
  readonly kind: 'embedded' | 'weston';
  readonly pid: number;
  readonly socketPath: string;
  readonly runtimeDir: string;
}

export interface Harness {
  readonly compositor: HarnessCompositor;
  readonly bridge: Bridge;
  readonly lifecycle: Lifecycle;
  /** The whole bridge: oracle, backend, the reclaim scheduler and its policy. */
  readonly assembled: AssembledBridge;
  /** Every lifecycle event so far, in order. */
  readonly events: readonly LifecycleEvent[];
  /** What a real client needs to connect through the bridge. */
  readonly env: { readonly XDG_RUNTIME_DIR: string; readonly WAYLAND_DISPLAY: string };
  /** A scripted client (libwayland-client through FFI) with a mapped toplevel. */
  openWindow(options?: ScriptedWindowOptions): Promise<ScriptedWindow>;
  /** Runs a real program through the bridge until it exits or `timeoutMs` passes. */
  run(command: string, args?: readonly string[], timeoutMs?: number): Promise<ClientResult>;
  /** Resolves with the first event (past or future) that matches, or rejects on timeout. */
  waitFor(match: (event: LifecycleEvent) => boolean, timeoutMs?: number): Promise<LifecycleEvent>;
  /** Grant extents: allocated so far, reclaimed so far, and held now (grant mode). */
  grants(): { allocated: number; reclaimed: number; inUse: number };
  /** What the reclaim scheduler did: its policy, attempts, refusals, deferred queue. */
  reclaim(): ReclaimFigures;
  /** The compositor's last repainted output (embedded compositor only). */
  frame(): Promise<RgbaImage>;
  stop(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const kind = options.compositor ?? 'embedded';
  const log = options.log ?? silentLogger;
  const embedded =
    kind === 'embedded' ? await startEmbeddedCompositor({ knobs: options.knobs }) : undefined;
  const weston = kind === 'weston' ? await startWeston() : undefined;
  const base = (embedded ?? weston)!;
  const compositor: HarnessCompositor = {
    kind,
    pid: base.pid,
    socketPath: base.socketPath,
    runtimeDir: base.runtimeDir,
  };
  const events: LifecycleEvent[] = [];
  const waiters = new Set<() => void>();
  // One oracle for the bridge, judging every process (the compositor may fork helpers).
  let assembled: AssembledBridge;
  try {
    assembled = assembleBridge({
      listenPath: join(compositor.runtimeDir, 'grantway-harness'),
      upstreamPath: compositor.socketPath,
      log,
      trace: options.trace,
      mode: options.mode,
      policy: options.policy,
      policyOptions: options.policyOptions,
      trackDamage: true,
      sinks: [
        (event) => {
          events.push(event);
          for (const wake of waiters) wake();
        },
      ],
    });
  } catch (err) {
    await (embedded ?? weston)!.stop();
    throw err;
  }
  const { bridge, lifecycle } = assembled;
  const windows = new Set<ScriptedWindow>();
  const env = { XDG_RUNTIME_DIR: compositor.runtimeDir, WAYLAND_DISPLAY: bridge.listenPath };
  let stopped = false;

  return {
    compositor,
    bridge,
    lifecycle,
    assembled,
    events,
    env,
    async openWindow(windowOptions?: ScriptedWindowOptions): Promise<ScriptedWindow> {
      const window = await ScriptedWindow.open(bridge.listenPath, windowOptions);
      windows.add(window);
      return window;
    },
    run(command: string, args: readonly string[] = [], timeoutMs = 10_000): Promise<ClientResult> {
      return runClient(command, args, env, timeoutMs);
    },
    waitFor(match: (event: LifecycleEvent) => boolean, timeoutMs = 5000): Promise<LifecycleEvent> {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const found = events.find(match);
          if (found === undefined) return false;
          waiters.delete(wake);
          clearTimeout(timer);
          resolve(found);
          return true;
        };
        const wake = (): void => void check();
        const timer = setTimeout(() => {
          waiters.delete(wake);
          reject(new Error(`no matching lifecycle event within ${timeoutMs} ms`));
        }, timeoutMs);
        if (!check()) waiters.add(wake);
      });
    },
    grants() {
      const { allocated, reclaimed, inUse } = assembled.figures();
      return { allocated, reclaimed, inUse };
    },
    reclaim: () => assembled.figures(),
    async frame(): Promise<RgbaImage> {
      if (embedded === undefined)
        throw new Error('frame(): only the embedded compositor reads pixels back');
      return decodePng((await embedded.control.framePng()).png);
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      for (const window of windows) window.close();
      assembled.close();
      await (embedded ?? weston)!.stop();
    },
  };
}

// The rest of the harness's public face: the demo (`grantway demo` runs it), and the
// types a test meets through a Harness.
export { runDemo, type DemoOptions, type DemoResult } from './demo/demo.js';
export { demoSummaryRows } from './demo/summary.js';
export type { ScriptedWindow, ScriptedWindowOptions } from './client/scripted-client.js';
export type { KnobsPatch } from './compositor/knobs.js';
export type { RgbaImage } from './compositor/png.js';
export type { ClientResult } from './real/process.js';
