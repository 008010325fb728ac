// `--record` on a disk that fills up (issue 14, item 2): recording is a side job and must
// never take the bridge down or cut a client off. The trace goes to a 160 KiB tmpfs in
// front of the embedded compositor, in grant mode; a client makes far more events than
// fit. The bridge logs one error, stops recording (counting what it drops), keeps the
// file a valid trace of whole lines, and goes on serving everyone.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCompositor } from '../harness/embedded.js';
import { assembleBridge } from '../bridge/assembly/assemble.js';
import { LifecycleRecorder, RecordFileError } from '../bridge/shm/recorder.js';
import { parseLifecycleTrace } from '../bridge/shm/trace-file.js';
import { close as closeFd, ftruncate, memfdCreate } from '../ffi/libc.js';
import type { ArgValue } from '../bridge/wire/values.js';
import { type Message, RawClient } from './support/raw-client.js';
import { registry, request } from './support/raw-peer.js';

const createPool = request('wl_shm', 'create_pool');
const createBuffer = request('wl_shm_pool', 'create_buffer');
const bufferDestroy = request('wl_buffer', 'destroy');
const poolDestroy = request('wl_shm_pool', 'destroy');

/** A tmpfs of `size` at a fresh directory, or why one cannot be mounted here. */
function mountTmpfs(size: string): { dir: string } | { unavailable: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gw-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
    return { dir };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return { unavailable: String(err).split('\n')[0]! };
  }
}

const mounted = mountTmpfs('160k');
if ('unavailable' in mounted) {
  console.warn(
    `record-failures: no tmpfs to fill (${mounted.unavailable}); the full-disk case is skipped`,
  );
}

describe('a lifecycle record on a full disk', () => {
  let compositor: Awaited<ReturnType<typeof startEmbeddedCompositor>>;

  beforeAll(async () => {
    compositor = await startEmbeddedCompositor({ socketName: 'gw-record-embedded' });
  });
  afterAll(async () => {
    await compositor?.stop();
    if ('dir' in mounted) {
      execFileSync('umount', ['-l', mounted.dir]);
      rmSync(mounted.dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!('dir' in mounted))(
    'is cut short with one error logged; the bridge and its clients go on',
    async () => {
      const dir = (mounted as { dir: string }).dir;
      const recordPath = join(dir, 'trace.jsonl');
      const logs: { level: number; msg: string; reason?: string }[] = [];
      const log = pino(
        { level: 'warn' },
        { write: (line: string) => logs.push(JSON.parse(line) as (typeof logs)[number]) },
      );
      const assembled = assembleBridge({
        listenPath: join(compositor.runtimeDir, 'gw-record-bridge'),
        upstreamPath: compositor.socketPath,
        registry,
        log,
        recordPath,
      });
      const { bridge, lifecycle } = assembled;
      const fd = memfdCreate('record');
      ftruncate(fd, 65536);
      const clients: RawClient[] = [];
      try {
        const bystander = await RawClient.open(bridge.listenPath);
        clients.push(bystander);
        const c = await RawClient.open(bridge.listenPath);
        clients.push(c);
        // Rounds of 400 buffers made and destroyed, and a pool let go each round (its
        // E3 evidence comes from the mapping watcher's timer): far more than 160 KiB.
        for (let round = 0; round < 10; round++) {
          const pool = c.newId();
          c.send(c.shm, createPool, [pool, fd, 65536]);
          const ids = Array.from({ length: 400 }, () => c.newId());
          await c.flood(
            ids.map((id, i) => [pool, createBuffer, [id, (i * 4) % 65536, 1, 1, 4, 0]]),
          );
          const destroys: [number, Message, ArgValue[]][] = ids.map((id) => [
            id,
            bufferDestroy,
            [],
          ]);
          await c.flood([...destroys, [pool, poolDestroy, []]]);
          await c.roundtrip();
          await bystander.roundtrip();
        }
        await lifecycle.settle(2000);
        expect(c.error()).toBeUndefined();
        expect(bystander.error()).toBeUndefined();
        expect(bridge.sessionCount).toBe(2);
        expect(lifecycle.droppedRecords).toBeGreaterThan(0);
        const errors = logs.filter((l) => l.level >= 50);
        expect(errors).toHaveLength(1);
        expect(errors[0]!.msg).toMatch(/^recording stopped/);
        expect(errors[0]!.reason).toMatch(/^ENOSPC/);
        // What was written is a trace `grantway report` reads: whole lines only.
        const trace = parseLifecycleTrace(readFileSync(recordPath, 'utf8'), recordPath);
        expect(trace.events.length).toBeGreaterThan(0);
        // A fresh client is served too.
        const fresh = await RawClient.open(bridge.listenPath);
        clients.push(fresh);
        await fresh.roundtrip();
      } finally {
        for (const client of clients) client.peer.close();
        closeFd(fd);
        assembled.close();
      }
      // Closing says how much is missing.
      expect(logs.at(-1)?.msg).toMatch(/events dropped/);
    },
    60_000,
  );

  it('a record file that cannot take even its header is refused at start, and not left behind', () => {
    const header = { startedAt: new Date(0).toISOString(), mode: 'grant' as const, source: 'test' };
    expect(() => new LifecycleRecorder('/dev/full', header)).toThrow(RecordFileError);
    expect(() => new LifecycleRecorder('/dev/full', header)).toThrow(
      '--record /dev/full: cannot write (ENOSPC: no space left on device)',
    );
    expect(() => new LifecycleRecorder('/nonexistent-dir/trace.jsonl', header)).toThrow(
      /cannot open for writing \(ENOENT/,
    );
  });
});
