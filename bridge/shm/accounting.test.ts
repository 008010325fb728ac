// What a pool is charged, by mode and backend, and which limit refuses what: covered
// bytes for maxPoolSize and maxShmTotal (a sealed pool twice in grant mode), the
// declared size where the backend grants whole pools, and declared sizes for
// maxShmDeclared — each refused before anything is recorded.

import { describe, expect, it } from 'vitest';
import { LiveReclaimer, createPolicy } from '../../policies/index.js';
import type { GrantBackend } from '../grants/types.js';
import { DelegatingBackend } from '../grants/delegating.js';
import { MemfdGrantBackend } from '../grants/memfd.js';
import { SimGrantBackend } from '../grants/sim.js';
import { ClientLimitError } from '../relay/errors.js';
import { PASSTHROUGH_CHARGES, ShmAccounting } from './accounting.js';
import { GrantBacking } from './grant-mode.js';
import { type PoolState, newPoolState } from './state.js';

const MiB = 1024 * 1024;
const limits = { maxPoolSize: 256 * MiB, maxShmTotal: 1024 * MiB, maxShmDeclared: 2048 * MiB };

function pool(size: number, sealed: boolean): PoolState {
  return newPoolState({
    id: 1,
    key: 1,
    size,
    file: { dev: 0n, ino: 0n },
    mappedFile: undefined,
    clientFd: -1,
    ownDescription: false,
    sealedAgainstShrink: sealed,
  });
}

/** A backend that cannot grant sparsely, as gntalloc (which cannot run off Xen). */
class WholeOnly extends DelegatingBackend {
  override get grantsSparsely(): boolean {
    return false;
  }
}

describe('pool charges', () => {
  const backing = (backend: GrantBackend): GrantBacking =>
    new GrantBacking(backend, new LiveReclaimer({ backend, policy: createPolicy('evidence') }));
  const memfd = backing(new MemfdGrantBackend());
  const whole = backing(new WholeOnly(new SimGrantBackend()));

  it('charges what buffers cover: foot’s 512 MiB pool with a 4 MiB buffer', () => {
    expect(PASSTHROUGH_CHARGES.charge(512 * MiB, 4 * MiB, true)).toEqual({
      granted: 4 * MiB,
      bytes: 4 * MiB,
      declared: 512 * MiB,
      fds: 1,
    });
    expect(memfd.charge(512 * MiB, 4 * MiB, false)).toEqual({
      granted: 4 * MiB,
      bytes: 4 * MiB,
      declared: 512 * MiB,
      fds: 2,
    });
    // Sealed: read through a mapping, up to as many client pages again.
    expect(memfd.charge(512 * MiB, 4 * MiB, true).bytes).toBe(8 * MiB);
    // Granted whole: the declared size.
    expect(whole.charge(512 * MiB, 4 * MiB, false)).toMatchObject({ granted: 512 * MiB });
  });

  it('refuses a pool granted whole past maxPoolSize at create_pool, a sparse one never', () => {
    const a = new ShmAccounting(limits, whole);
    expect(() => a.admit('wl_shm.create_pool of 536870912 bytes', 512 * MiB, false)).toThrow(
      /^wl_shm.create_pool of 536870912 bytes: over the per-client limit maxPoolSize = 268435456 bytes$/,
    );
    const b = new ShmAccounting(limits, memfd);
    expect(b.admit('create_pool', 512 * MiB, false)).toMatchObject({ granted: 0, bytes: 0 });
  });

  it('checks growth only: coverage going down never fails, even over a limit', () => {
    const a = new ShmAccounting(limits, memfd);
    const p = pool(512 * MiB, false);
    a.charge(p, a.admit('create_pool', 512 * MiB, false));
    a.charge(p, a.admitChange('create_buffer', p, p.size, 200 * MiB));
    expect(() => a.admitChange('create_buffer', p, p.size, 300 * MiB)).toThrow(ClientLimitError);
    expect(a.heldBytes).toBe(200 * MiB);
    a.charge(p, a.admitChange('', p, p.size, 8 * MiB));
    expect([a.heldBytes, a.heldDeclared, a.heldFds]).toEqual([8 * MiB, 512 * MiB, 2]);
    a.release(p);
    expect([a.heldBytes, a.heldDeclared, a.heldFds]).toEqual([0, 0, 0]);
  });

  it('bounds declared sizes with maxShmDeclared', () => {
    const a = new ShmAccounting(limits, PASSTHROUGH_CHARGES);
    for (let i = 0; i < 4; i++) a.charge(pool(512 * MiB, false), a.admit('p', 512 * MiB, false));
    expect(() => a.admit('wl_shm.create_pool of 4096 bytes', 4096, false)).toThrow(
      /with 2147483648 bytes declared by 4 pools \(this one would add 4096\): over the per-client limit maxShmDeclared/,
    );
  });
});
