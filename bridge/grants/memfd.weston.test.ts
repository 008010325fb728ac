// The memfd backend wired to the E3 oracle against weston: the compositor gets the
// extent as a wl_shm pool (through shareFd, as grant mode gives it), and
// endForeignAccess answers 'still-mapped' until weston has really unmapped it — the
// evidence loop the 'evidence' policy runs. Once with the kernel's answer (leases),
// once with the /proc walk.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { close as closeFd, nativeView } from '../../ffi/libc.js';
import { bindGlobalsBlocking } from '../../harness/client/globals.js';
import { WaylandClient, type WaylandProxy } from '../../harness/client/wayland-client.js';
import { startWeston, type WestonInstance, westonAvailable } from '../../harness/real/weston.js';
import { Backoff } from '../oracle/backoff.js';
import { unreadableProcesses } from '../oracle/holders.js';
import { SystemOracle } from '../oracle/system-oracle.js';
import { ProtocolRegistry } from '../protocol/registry.js';
import { MemfdGrantBackend } from './memfd.js';
import { oracleMappingSource } from './oracle-source.js';

const protocols = new ProtocolRegistry();
const haveWeston = westonAvailable();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const suiteName = haveWeston
  ? 'memfd backend + oracle on weston'
  : 'memfd backend + oracle on weston (skipped: no weston on PATH)';

describe.skipIf(!haveWeston)(suiteName, () => {
  let weston: WestonInstance;

  beforeAll(async () => {
    weston = await startWeston({ socketName: 'grantway-grants' });
  });

  afterAll(async () => {
    await weston?.stop();
  });

  it.each([
    ['the kernel', true],
    ['a /proc walk', false],
  ])(
    'end of access fails while weston maps the extent and succeeds once it unmaps (%s)',
    async (_how, useLeases) => {
      const client = WaylandClient.connect(weston.socketPath);
      // The walk must see every process: vouch for the machine's own opaque agents.
      const oracle = new SystemOracle({ useLeases, vouchedPids: unreadableProcesses() });
      const backend = new MemfdGrantBackend({ remote: oracleMappingSource(oracle) });
      try {
        const width = 32;
        const height = 32;
        const extent = backend.allocate((width * height * 4) / 4096);
        nativeView(extent.ptr as bigint, 4096).fill(0x7f);
        const { wl_compositor: compositor, wl_shm: shm } = bindGlobalsBlocking(client, protocols, {
          wl_compositor: 4,
          wl_shm: 1,
        });
        const surface = compositor.request('create_surface') as WaylandProxy;
        const shared = backend.shareFd(extent);
        const pool = shm.request('create_pool', [shared, extent.pages * 4096]);
        closeFd(shared); // libwayland-client sent its own dup
        const buffer = (pool as WaylandProxy).request('create_buffer', [
          0,
          width,
          height,
          width * 4,
          1,
        ]) as WaylandProxy;
        surface.request('attach', [buffer, 0, 0]);
        surface.request('commit');
        client.roundtrip();
        expect(backend.endForeignAccess(extent)).toBe('still-mapped');

        buffer.destroy();
        (pool as WaylandProxy).destroy();
        surface.destroy();
        client.roundtrip();
        const backoff = new Backoff({ startMs: 1, factor: 2, maxMs: 100 });
        let result = backend.endForeignAccess(extent);
        // Generous: the walk keeps to 5 % of a CPU, so on a loaded machine (a cold walk
        // of 0.5 s) its next look comes seconds later; the answer must come, not fast.
        for (let waited = 0; result !== 'ok' && waited < 30_000;) {
          const delay = backoff.nextDelay();
          await sleep(delay);
          waited += delay;
          result = backend.endForeignAccess(extent);
        }
        expect(result).toBe('ok');
        backend.free(extent);
        expect(useLeases ? oracle.stats.leaseAnswers : oracle.stats.walkAnswers).toBeGreaterThan(0);
        expect(backend.stats()).toMatchObject({
          endAccessFailures: backend.stats().endAccessAttempts - 1,
          endAccessUnverified: 0,
          extentsInUse: 0,
        });
      } finally {
        backend.close();
        client.close();
      }
    },
  );
});
