// createGrantBackend: names map to backends; an unknown name is a typed error.

import { describe, expect, it } from 'vitest';
import { UnknownGrantBackendError } from './errors.js';
import { createGrantBackend, isGrantBackendName } from './factory.js';
import { MemfdGrantBackend } from './memfd.js';
import { SimGrantBackend } from './sim.js';
import type { GrantBackendName } from './types.js';

describe('createGrantBackend', () => {
  it('makes sim and memfd backends with their options', () => {
    const sim = createGrantBackend('sim', { frames: 2 });
    expect(sim).toBeInstanceOf(SimGrantBackend);
    expect(sim.stats().refsTotal).toBe(1024 - 8);
    const memfd = createGrantBackend('memfd');
    expect(memfd).toBeInstanceOf(MemfdGrantBackend);
    expect(memfd.name).toBe('memfd');
    sim.close();
    memfd.close();
  });

  it('rejects an unknown name with UnknownGrantBackendError', () => {
    const name = 'xenstore' as GrantBackendName;
    expect(isGrantBackendName(name)).toBe(false);
    expect(() => createGrantBackend(name as 'sim')).toThrow(UnknownGrantBackendError);
    try {
      createGrantBackend(name as 'sim');
    } catch (error) {
      expect((error as UnknownGrantBackendError).code).toBe('ERR_GRANT_BACKEND_UNKNOWN');
    }
  });

  it('gntalloc needs a domid', () => {
    expect(() => createGrantBackend('gntalloc', {} as { domid: number })).toThrow(/domid/);
  });
});
