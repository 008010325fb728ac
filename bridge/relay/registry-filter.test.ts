// The registry filter judges binds as libwayland-server's registry_bind does: same
// checks, same order, same words; a global removed moments before stays bindable (the
// compositor decides for how long), within a bounded memory of removed globals.

import { describe, expect, it } from 'vitest';
import { ProtocolRegistry } from '../protocol/registry.js';
import { ClientProtocolError } from './errors.js';
import { MessageTables } from './message-table.js';
import { RegistryFilter } from './registry-filter.js';

const tables = new MessageTables(new ProtocolRegistry());
const filter = (): RegistryFilter => new RegistryFilter((name) => tables.get(name));

function refusal(f: RegistryFilter, name: number, iface: string, version: number): unknown {
  try {
    f.bind(2, name, iface, version);
  } catch (err) {
    return err instanceof ClientProtocolError
      ? { object: err.objectId, code: err.displayCode, message: err.message }
      : err;
  }
  return 'accepted';
}

describe('RegistryFilter', () => {
  it('hides globals with no protocol and clamps versions to the tables', () => {
    const f = filter();
    expect(f.announce(1, 'weston_secret_thing', 1)).toBe('hide');
    expect(f.announce(2, 'wl_shm', 999)).toBe(tables.get('wl_shm')!.spec.version);
    expect(f.announce(3, 'wl_compositor', 4)).toBe(4);
    expect(f.remove(1)).toBe('hide');
    expect(f.remove(3)).toBe('pass');
  });

  it("refuses binds with registry_bind's errors, in its order", () => {
    const f = filter();
    f.announce(1, 'wl_compositor', 4);
    f.announce(7, 'weston_secret_thing', 1);
    const invalid = (message: string) => ({ object: 2, code: 0, message });
    expect(refusal(f, 9, 'wl_compositor', 1)).toEqual(invalid('invalid global wl_compositor (9)'));
    expect(refusal(f, 7, 'weston_secret_thing', 1)).toEqual(
      invalid('invalid global weston_secret_thing (7)'),
    );
    expect(refusal(f, 1, 'wl_shm', 1)).toEqual(
      invalid('invalid interface for global 1: have wl_shm, wanted wl_compositor'),
    );
    expect(refusal(f, 1, 'wl_compositor', 0)).toEqual(
      invalid('invalid version for global wl_compositor (1): 0 is not a valid version'),
    );
    expect(refusal(f, 1, 'wl_compositor', 5)).toEqual(
      invalid('invalid version for global wl_compositor (1): have 4, wanted 5'),
    );
    expect(f.bind(2, 1, 'wl_compositor', 4).name).toBe('wl_compositor');
  });

  it('lets a bind to a removed global through, for the last 64 removed', () => {
    const f = filter();
    for (let name = 1; name <= 65; name++) {
      f.announce(name, 'wl_output', 4);
      f.remove(name);
    }
    expect(refusal(f, 1, 'wl_output', 4)).toEqual({
      object: 2,
      code: 0,
      message: 'invalid global wl_output (1)',
    });
    expect(f.bind(2, 2, 'wl_output', 4).name).toBe('wl_output');
    expect(f.bind(2, 65, 'wl_output', 4).name).toBe('wl_output');
    // Still judged by what was announced.
    expect(refusal(f, 65, 'wl_output', 5)).toMatchObject({ message: /have 4, wanted 5/ });
  });
});
