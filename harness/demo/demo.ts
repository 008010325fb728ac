// `grantway demo`: the whole idea in one command, with nothing to install. The embedded
// compositor runs in a child process; a bridge in grant mode runs here, assembled as the
// CLI assembles it (bridge/assembly/: the E3 oracle, the reclaim scheduler and its
// policy); scripted clients paint double-buffered frames with partial damage, resize
// every frame, come and go, and one is SIGKILLed mid-frame. At the end: what was
// granted, what evidence each pool reached, what the scheduler did (its policy, its
// end-of-access attempts, its deferred queue), how fast extents came back, that no
// extent was reclaimed while any process still mapped or held it, and that none is
// left — plus a picture of every client's window and a timeline of the grants
// (picture.ts, from timeline-record.ts).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { assembleBridge, type ReclaimFigures } from '../../bridge/index.js';
import type { LifecycleEvent } from '../../bridge/shm/index.js';
import { type TraceSummary, summarizeTrace } from '../../bridge/shm/index.js';
import { ScriptedWindow } from '../client/scripted-client.js';
import type { WaylandProxy } from '../client/wayland-client.js';
import { startEmbeddedCompositor } from '../embedded.js';
import * as colours from './colours.js';
import { type DemoPicture, writeDemoPicture } from './picture.js';
import { demoSummaryRows } from './summary.js';
import { DemoRecorder } from './timeline-record.js';

export interface DemoOptions {
  /** Where the PNG of every client's window goes. */
  readonly pngPath: string;
  /** Where the HTML page (windows, timeline, summary) goes; undefined: none. */
  readonly htmlPath?: string | undefined;
  /** Frames the main painter draws (the others scale with it). */
  readonly frames: number;
  readonly log: Logger;
  /** The reclaim policy and its options, as --policy and --policy-opt (default evidence). */
  readonly policy?: string;
  readonly policyOptions?: readonly string[];
  /** Called as work completes: done of total units. */
  readonly onProgress?: (done: number, total: number, what: string) => void;
}

export interface DemoResult {
  readonly trace: TraceSummary;
  /** What the reclaim scheduler did: its policy, attempts, failures, deferred peak. */
  readonly reclaim: ReclaimFigures;
  readonly grantsAllocated: number;
  readonly grantsReclaimed: number;
  /** Extents freed while any process but the bridge mapped or held them (must be 0). */
  readonly unsafeReclaims: number;
  /** Extents still allocated once every client is gone and evidence settled. */
  readonly leakedGrants: number;
  readonly copies: { commits: number; fullCopies: number; bytes: number };
  readonly compositorFrames: number;
  readonly pngPath: string;
  readonly picture: DemoPicture;
}

/** How each demo client draws, by window title (the picture's labels and order). */
const ROLES: readonly (readonly [string, string])[] = [
  ['painter', 'double-buffered, partial damage'],
  ['resizer', 'new size and pool every frame'],
  ['victim', 'own process, frames back to back'],
  ['short-lived', '3 frames, leaves without cleanup'],
];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** How long the end waits for evidence and reclaims: linux-deferred retries once a second. */
const SETTLE_MS = 15_000;

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  // The compositor writes each window's last image here as the window goes.
  const windowDir = mkdtempSync(join(tmpdir(), 'grantway-demo-windows-'));
  const compositor = await startEmbeddedCompositor({
    socketName: 'grantway-demo-compositor',
    pngDir: windowDir,
  }).catch((err: unknown) => {
    rmSync(windowDir, { recursive: true, force: true });
    throw err;
  });
  const events: LifecycleEvent[] = [];
  const recorder = new DemoRecorder('grant');
  // The bridge's oracle and policy decide; every free is judged independently of them,
  // against every process on the machine (verifyFrees). The recorder sees grants taken
  // and freed, and each window's title, for the timeline.
  const assembled = assembleBridge({
    listenPath: join(compositor.runtimeDir, 'grantway-demo'),
    upstreamPath: compositor.socketPath,
    log: options.log,
    policy: options.policy,
    policyOptions: options.policyOptions,
    verifyFrees: true,
    sinks: [(e) => events.push(e), recorder.sink],
    wrapBackend: (backend) => recorder.backend(backend),
    wrapObservers: (factory) => recorder.observe(factory),
  });
  const bridge = assembled.bridge;
  const verifier = assembled.verifier!;
  const n = options.frames;
  const plan = { painter: n, resizer: Math.ceil(n / 3), churn: 8, victim: 20 };
  const total = plan.painter + plan.resizer + plan.churn + plan.victim;
  let done = 0;
  const tick = (what: string): void => options.onProgress?.(++done, total, what);
  try {
    // All clients at once; allSettled so that one failing does not leave the others'
    // rejections unobserved, then the first failure is rethrown. The painter leaves
    // last, once the others have gone.
    const others = Promise.allSettled([
      runVictim(
        bridge.listenPath,
        plan.victim,
        () => tick('victim'),
        (pid) => recorder.killed(pid),
      ),
      runResizer(bridge.listenPath, plan.resizer, () => tick('resizer')),
      runChurn(bridge.listenPath, plan.churn, () => tick('short-lived client')),
    ]);
    const painter = runPainter(
      bridge.listenPath,
      plan.painter,
      () => tick('painter'),
      async () => {
        await others;
      },
    );
    const outcomes = [...(await others), ...(await Promise.allSettled([painter]))];
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
    await bridge.whenIdle();
    // Evidence, then the scheduler's reclaims (a policy may retry on a period of its own).
    await assembled.settle(SETTLE_MS);
    // Clients have hung up, but their windows (and window PNGs) go only once the
    // compositor has seen them leave (through the bridge, after its upstream goodbye).
    await waitUntil(async () => (await compositor.control.state()).clients.length === 0);
    const state = await compositor.control.state();
    const trace = summarizeTrace({
      header: {
        format: 'grantway-lifecycle',
        version: 1,
        startedAt: '',
        mode: 'grant',
        source: 'demo',
      },
      events,
    });
    const stats = assembled.lifecycle.backing!.stats;
    const reclaim = assembled.figures();
    const summary = {
      trace,
      reclaim,
      grantsAllocated: reclaim.allocated,
      grantsReclaimed: reclaim.reclaimed,
      unsafeReclaims: verifier.unsafe,
      // Cached extents (recycle) are proven unmapped and kept on purpose.
      leakedGrants: reclaim.inUse - reclaim.cached,
      copies: { commits: stats.commits, fullCopies: stats.fullCopies, bytes: stats.bytesCopied },
      compositorFrames: state.frames,
      pngPath: options.pngPath,
    };
    const picture = writeDemoPicture({
      timeline: recorder.finish(),
      windowDir,
      roles: ROLES,
      heading: [
        'grantway demo',
        `${trace.clients} clients through the bridge in grant mode: ${summary.grantsAllocated} grants, ` +
          `${summary.grantsReclaimed} back, ${summary.unsafeReclaims} unsafe, ${summary.leakedGrants} leaked`,
        "each window as the compositor showed it last, read from the grant pages, not the client's memory",
      ],
      summary: demoSummaryRows(summary),
      pngPath: options.pngPath,
      htmlPath: options.htmlPath,
    });
    return { ...summary, picture };
  } finally {
    assembled.close();
    await compositor.stop();
    rmSync(windowDir, { recursive: true, force: true });
  }
}

/** Double-buffered animation with partial damage: a square moving across a field. */
async function runPainter(
  socket: string,
  frames: number,
  onFrame: () => void,
  beforeClose: () => Promise<void>,
): Promise<void> {
  const W = 320;
  const H = 200;
  const window = await ScriptedWindow.open(socket, { title: 'painter' });
  try {
    const pool = window.createPool(2 * W * H * 4);
    const buffers = [0, W * H * 4].map((offset) => window.createBuffer(pool, W, H, offset));
    const pixels = new Uint32Array(
      pool.bytes().buffer,
      pool.bytes().byteOffset,
      (2 * W * H * 4) / 4,
    );
    const paint = (b: number, frame: number): void => {
      const base = (b * W * H) >>> 0;
      pixels.fill(colours.PAINTER_FIELD, base, base + W * H);
      const x0 = (frame * 4) % (W - 40);
      for (let y = 80; y < 120; y++)
        pixels.fill(colours.PAINTER_SQUARE, base + y * W + x0, base + y * W + x0 + 40);
    };
    for (let frame = 0; frame < frames; frame++) {
      const b = frame % 2;
      paint(b, frame);
      window.surface.request('attach', [buffers[b]!.proxy, 0, 0]);
      // Damage: the band the square moves in; the rest is as in the frame before.
      window.surface.request('damage_buffer', frame < 2 ? [0, 0, W, H] : [0, 80, W, 40]);
      const callback = window.surface.request('frame') as WaylandProxy;
      const shown = new Promise<void>((resolve) => callback.on('done', () => resolve()));
      window.surface.request('commit');
      await shown;
      onFrame();
    }
    // Waits for the other clients to be gone, then the picture is taken.
    await beforeClose();
    for (const b of buffers) b.destroy();
    pool.destroy();
  } finally {
    window.close();
  }
}

/** A window that changes size every frame: a new pool each time, the old one dropped. */
async function runResizer(socket: string, frames: number, onFrame: () => void): Promise<void> {
  const window = await ScriptedWindow.open(socket, { title: 'resizer' });
  try {
    for (let frame = 0; frame < frames; frame++) {
      const w = 64 + ((frame * 37) % 200);
      const h = 48 + ((frame * 23) % 150);
      const pool = window.createPool(w * h * 4);
      const buffer = window.createBuffer(pool, w, h);
      buffer.fill(colours.resizerColour(frame));
      await window.commit(buffer);
      buffer.destroy();
      pool.destroy();
      onFrame();
    }
  } finally {
    window.close();
  }
}

/** Clients that connect, draw a few frames and leave. */
async function runChurn(socket: string, clients: number, onClient: () => void): Promise<void> {
  for (let i = 0; i < clients; i++) {
    const window = await ScriptedWindow.open(socket, { title: `short-lived ${i}` });
    const pool = window.createPool(96 * 64 * 4);
    const buffer = window.createBuffer(pool, 96, 64);
    for (let frame = 0; frame < 3; frame++) {
      buffer.fill(colours.shortLivedColour(i, frame));
      await window.commit(buffer);
    }
    window.close(); // without destroying anything: the compositor cleans up
    onClient();
  }
}

/** A client in its own process, SIGKILLed mid-frame once it has drawn `frames`. */
async function runVictim(
  socket: string,
  frames: number,
  onFrame: () => void,
  onKill: (pid: number) => void,
): Promise<void> {
  // Built (.js) or, under vitest, source (.ts, run through tsx).
  const fromSource = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(
    new URL(fromSource ? './victim.ts' : './victim.js', import.meta.url),
  );
  const args = fromSource ? ['--import', 'tsx', script, socket] : [script, socket];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let seen = 0;
    let buffered = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (let i = 0; i < lines.length && seen < frames; i++) {
        seen++;
        onFrame();
        if (seen === frames) {
          // Mid-frame: its next commit is on the wire or about to be.
          setTimeout(() => {
            onKill(child.pid ?? 0);
            child.kill('SIGKILL');
          }, 3);
        }
      }
    });
    child.once('error', reject);
    child.once('exit', () =>
      seen >= frames ? resolve() : reject(new Error('the victim client died early')),
    );
  });
  await sleep(10);
}

/** Polls `done` every 10 ms until it holds; after 5 s it gives up and lets the caller go on. */
async function waitUntil(done: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await done()) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
