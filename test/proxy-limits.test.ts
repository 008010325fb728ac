// Limits across the whole proxy (SECURITY.md, "Limits across the proxy"): 200 connections
// from one uid against a `grantway proxy` process in grant mode. The clients past
// maxClientsPerUid are refused with wl_display.error naming it; another uid is still
// served while this one is at its limit, until maxClients is reached and it is refused
// too, named; then every served client asks for a 1 MiB pool, and the pools that would
// take the shared memory held for all clients past maxShmTotalAll get no_memory naming
// it. The proxy's shared memory (its extents and the client pages it reads) stays under
// the limit, and every client that was not refused goes on being served.

import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCompositor } from '../harness/embedded.js';
import { BridgeControlClient, controlPathFor } from '../bridge/control/bridge-control.js';
import {
  addSeals,
  close as closeFd,
  F_SEAL_GROW,
  F_SEAL_SHRINK,
  ftruncate,
  memfdCreate,
} from '../ffi/libc.js';
import { startProxyProcess, type ProxyProcess } from './support/proxy-process.js';
import { RawClient, roundtripOrRefusal } from './support/raw-client.js';
import { until } from './support/wait.js';

const MiB = 1024 * 1024;
const CONNECTIONS = 200;
const PER_UID = 140;
const MAX_CLIENTS = 150;
const SHM_ALL = 64 * MiB;
const POOL = 1 * MiB;
/** Set GW_OPS_REPORT=1 to print the figures (SECURITY.md quotes them). */
const report = (line: string): void => {
  if (process.env.GW_OPS_REPORT) console.log(`[proxy-limits] ${line}`);
};

/** From /proc/PID/status, in bytes. */
function memory(pid: number): { rss: number; shmem: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kib('VmRSS'), shmem: kib('RssShmem'), anon: kib('RssAnon') };
}

const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const UID_CLIENTS = join(import.meta.dirname, 'support', 'uid-clients.ts');

/** Clients of uid 65534 (nobody), in their own process, connected until stop(). */
function nobodyClients(
  path: string,
  count: number,
): Promise<{ outcomes: string[]; stop(): Promise<void> }> {
  const child = spawn(
    'setpriv',
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      '--import',
      TSX,
      UID_CLIENTS,
      path,
      String(count),
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`uid-clients: no answer (${out})`)), 30_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (!out.includes('\n')) return;
      clearTimeout(timer);
      resolve({
        outcomes: JSON.parse(out) as string[],
        stop: () =>
          new Promise<void>((done) => {
            child.once('exit', () => done());
            child.stdin.end();
          }),
      });
    });
    child.once('error', reject);
  });
}

/** One sealed 1 MiB memfd, written through, that every client's pool is made from. */
function sharedPoolFile(): number {
  const fd = memfdCreate('gw-proxy-limits');
  ftruncate(fd, POOL);
  writeSync(fd, Buffer.alloc(POOL, 0x5a), 0, POOL, 0);
  addSeals(fd, F_SEAL_SHRINK | F_SEAL_GROW);
  return fd;
}

/** A pool, a 512×512 buffer filling it, on a surface, committed whole; then a roundtrip. */
async function showPool(c: RawClient, poolFd: number): Promise<string> {
  c.showBuffer(poolFd, POOL, 512, 512);
  try {
    await c.roundtrip();
    return 'served';
  } catch {
    const e = c.error();
    return e === undefined ? 'gone' : `error ${e.code}: ${e.message}`;
  }
}

const canSetpriv = ((): boolean => {
  try {
    execFileSync('setpriv', ['--reuid=65534', 'true']);
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();

describe.skipIf(!canSetpriv)(
  'limits across the proxy (grant mode, 200 connections from one uid)',
  () => {
    let dir: string;
    let compositor: Awaited<ReturnType<typeof startEmbeddedCompositor>>;
    let proxy: ProxyProcess;
    let poolFd: number;

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'gw-proxy-limits-'));
      chmodSync(dir, 0o755); // uid 65534 connects too
      compositor = await startEmbeddedCompositor({ socketName: 'gw-limits-up' });
      proxy = await startProxyProcess({
        listenPath: join(dir, 'gw-limits'),
        upstreamPath: compositor.socketPath,
        args: [
          '--max-clients',
          String(MAX_CLIENTS),
          '--max-clients-per-uid',
          String(PER_UID),
          '--max-shm-total-all',
          '64M',
        ],
      });
      chmodSync(proxy.listenPath, 0o777);
      poolFd = sharedPoolFile();
    });

    afterAll(async () => {
      if (poolFd !== undefined) closeFd(poolFd);
      await proxy?.stop();
      await compositor?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('refuses clients over maxClientsPerUid and maxClients by name, keeps the shared memory under maxShmTotalAll, serves the rest', async () => {
      // Connections made while the proxy started (the readiness probe) must have ended:
      // the burst is to meet exactly PER_UID free slots.
      const watch = await BridgeControlClient.connect(controlPathFor(proxy.listenPath));
      try {
        await until(
          'no client left from the start',
          async () => (await watch.snapshot()).clients.length === 0,
        );
      } finally {
        watch.close();
      }
      const idle = memory(proxy.pid);
      // 1. 200 connections from this uid: PER_UID served, the rest refused by name.
      const first = await Promise.all(
        Array.from({ length: CONNECTIONS }, () => roundtripOrRefusal(proxy.listenPath)),
      );
      const served = first.flatMap((o) => ('served' in o ? [o.served] : []));
      const refused = first.flatMap((o) => ('refused' in o ? [o.refused] : []));
      // What the others got, named in the failure (a hang-up without an error, say).
      const neither = first.filter((o) => !('served' in o) && !('refused' in o));
      expect(
        served,
        `served ${served.length}; neither served nor refused: ${JSON.stringify(neither)}`,
      ).toHaveLength(PER_UID);
      expect(refused).toHaveLength(CONNECTIONS - PER_UID);
      for (const message of refused) {
        expect(message).toBe(
          `grantway: a new client of uid 0 while ${PER_UID} of that uid are served: over the proxy-wide limit maxClientsPerUid = ${PER_UID} clients; try again later`,
        );
      }

      // 2. Another uid is served while this one is at its limit, up to maxClients.
      const others = await nobodyClients(proxy.listenPath, MAX_CLIENTS - PER_UID + 1);
      try {
        const outcomes = others.outcomes;
        expect(outcomes.filter((o) => o === 'served')).toHaveLength(MAX_CLIENTS - PER_UID);
        expect(outcomes.filter((o) => o !== 'served')).toEqual([
          `grantway: a new client while ${MAX_CLIENTS} are served: over the proxy-wide limit maxClients = ${MAX_CLIENTS} clients; try again later`,
        ]);
      } finally {
        await others.stop();
      }

      // 3. Every client this uid has served asks for a 1 MiB sealed pool, shown whole: each
      // costs the bridge 2 MiB (its extent, and the client pages it reads), so 32 fit.
      for (const peer of served) peer.close();
      const clients = await Promise.all(
        Array.from({ length: PER_UID }, () => RawClient.open(proxy.listenPath)),
      );
      const pools = await Promise.all(clients.map((c) => showPool(c, poolFd)));
      const accepted = pools.filter((p) => p === 'served').length;
      const overTotal = pools.filter((p) => p !== 'served');
      expect(accepted).toBe(SHM_ALL / (2 * POOL));
      for (const p of overTotal) {
        expect(p).toMatch(
          // Charged when its buffer covers the pool (sparse extents follow buffers).
          /^error 2: wl_shm_pool\.create_buffer .*with \d+ bytes held for all clients \(this one would add 2097152\): over the proxy-wide limit maxShmTotalAll = 67108864 bytes/,
        );
      }
      const peak = memory(proxy.pid);
      const control = await BridgeControlClient.connect(`${proxy.listenPath}.control`);
      const status = await control.snapshot();
      control.close();
      expect(status.shm.heldBytes).toBeLessThanOrEqual(SHM_ALL);
      expect(status.shm.heldBytes).toBe(accepted * 2 * POOL);
      expect(status.relay.limitsHit).toMatchObject({
        maxClientsPerUid: CONNECTIONS - PER_UID,
        maxClients: 1,
        maxShmTotalAll: overTotal.length,
      });
      // The proxy's shared memory: the extents it wrote and the client pages it read.
      expect(peak.shmem).toBeLessThanOrEqual(SHM_ALL);
      expect(peak.shmem).toBeGreaterThanOrEqual(0.9 * SHM_ALL);

      // 4. Everyone not refused is still served.
      const survivors = clients.filter((_, i) => pools[i] === 'served');
      for (const c of survivors) await c.roundtrip();
      const fresh = await roundtripOrRefusal(proxy.listenPath);
      expect('served' in fresh).toBe(true);
      if ('served' in fresh) fresh.served.close();
      for (const c of clients) c.peer.close();

      report(
        `idle: RSS ${(idle.rss / MiB).toFixed(1)} MiB (shmem ${(idle.shmem / MiB).toFixed(1)}); ` +
          `with ${survivors.length} pools of ${PER_UID} clients: RSS ${(peak.rss / MiB).toFixed(1)} MiB, ` +
          `shmem ${(peak.shmem / MiB).toFixed(1)} MiB, anon ${(peak.anon / MiB).toFixed(1)} MiB, ` +
          `held ${(status.shm.heldBytes / MiB).toFixed(1)} of ${SHM_ALL / MiB} MiB; ` +
          `refused: ${refused.length} maxClientsPerUid, 1 maxClients, ${overTotal.length} maxShmTotalAll`,
      );
    });
  },
);
