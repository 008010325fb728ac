// The rule for an interface name that several protocols define: compatible definitions
// (old and new releases, copies) resolve to the higher version; an incompatible loser's
// protocol is withdrawn wherever it reaches the lost definition, so its globals are hidden
// rather than parsed with another protocol's opcodes.

import { describe, expect, it } from 'vitest';
import { ProtocolRegistry } from './registry.js';
import { resolveInterfaces, wireCompatible } from './resolve.js';
import type { ArgSpec, InterfaceSpec, MessageSpec, ProtocolSpec } from './types.js';

function message(name: string, args: ArgSpec[] = [], since = 1, destructor = false): MessageSpec {
  return { name, since, destructor, args };
}

function iface(
  name: string,
  version: number,
  requests: MessageSpec[],
  events: MessageSpec[] = [],
): InterfaceSpec {
  return { name, version, requests, events, enums: [] };
}

function protocol(name: string, ...interfaces: InterfaceSpec[]): ProtocolSpec {
  return { name, interfaces };
}

const newId = (name: string, interfaceName: string): ArgSpec => ({
  name,
  type: 'new_id',
  interface: interfaceName,
});

describe('wireCompatible', () => {
  const v1 = iface('gw_x', 1, [message('a'), message('b', [{ name: 'n', type: 'uint' }])]);

  it('accepts a later version that appends messages', () => {
    const v2 = iface('gw_x', 2, [...v1.requests, message('c', [], 2)], [message('e', [], 2)]);
    expect(wireCompatible(v1, v2)).toBe(true);
    expect(wireCompatible(v2, v1)).toBe(true);
  });

  it('accepts an appended message whatever `since` it claims, and a destructor flag added', () => {
    const later = iface('gw_x', 3, [
      message('a', [], 1, true),
      ...v1.requests.slice(1),
      message('c'),
    ]);
    expect(wireCompatible(v1, later)).toBe(true);
  });

  it('refuses a different message at the same opcode', () => {
    expect(wireCompatible(v1, iface('gw_x', 2, [message('a'), message('other')]))).toBe(false);
  });

  it('refuses the same message name with other argument types or interfaces', () => {
    const retyped = iface('gw_x', 1, [message('a'), message('b', [{ name: 'n', type: 'int' }])]);
    expect(wireCompatible(v1, retyped)).toBe(false);
    const a = iface('gw_x', 1, [message('make', [newId('id', 'gw_one')])]);
    const b = iface('gw_x', 1, [message('make', [newId('id', 'gw_two')])]);
    expect(wireCompatible(a, b)).toBe(false);
  });
});

describe('resolveInterfaces', () => {
  it('keeps the higher version of compatible definitions whichever comes first', () => {
    const older = protocol('p_old', iface('gw_x', 1, [message('a')]));
    const newer = protocol('p_new', iface('gw_x', 2, [message('a'), message('b', [], 2)]));
    for (const order of [
      [older, newer],
      [newer, older],
    ]) {
      const resolved = resolveInterfaces(order);
      expect(resolved.byName.get('gw_x')?.version).toBe(2);
      expect(resolved.conflicts).toEqual([]);
    }
  });

  it('lets the later definition win on equal versions', () => {
    const resolved = resolveInterfaces([
      protocol('p_first', iface('gw_x', 1, [message('first')])),
      protocol('p_second', iface('gw_x', 1, [message('second')])),
    ]);
    expect(resolved.byName.get('gw_x')?.requests[0]?.name).toBe('second');
  });

  // The shape of xdg-shell-unstable-v5 against stable xdg-shell.
  const stable = protocol(
    'p_stable',
    iface('gw_base', 6, [message('get_surface', [newId('id', 'gw_surface')])]),
    iface('gw_surface', 6, [message('destroy', [], 1, true), message('get_toplevel')]),
  );
  const legacy = protocol(
    'p_legacy',
    iface('gw_legacy_shell', 1, [message('get_surface', [newId('id', 'gw_surface')])]),
    iface('gw_surface', 1, [message('destroy', [], 1, true), message('set_parent')]),
    iface('gw_legacy_unrelated', 1, [message('ping')]),
  );

  it('withdraws the interfaces that reach an incompatible loser, and only those', () => {
    const resolved = resolveInterfaces([stable, legacy]);
    expect(resolved.byName.get('gw_surface')?.requests[1]?.name).toBe('get_toplevel');
    expect(resolved.byName.has('gw_legacy_shell')).toBe(false);
    expect(resolved.byName.has('gw_legacy_unrelated')).toBe(true);
    expect(resolved.byName.has('gw_base')).toBe(true);
    expect(resolved.conflicts).toEqual([
      {
        interfaceName: 'gw_surface',
        kept: 'p_stable',
        shadowed: 'p_legacy',
        withdrawn: ['gw_legacy_shell'],
      },
    ]);
  });

  it('follows references through several interfaces of the losing protocol', () => {
    const chain = protocol(
      'p_chain',
      iface('gw_root', 1, [message('get_mid', [newId('id', 'gw_mid')])]),
      iface('gw_mid', 1, [message('get_surface', [newId('id', 'gw_surface')])]),
      iface('gw_surface', 1, [message('other')]),
    );
    const resolved = resolveInterfaces([stable, chain]);
    expect(resolved.byName.has('gw_root')).toBe(false);
    expect(resolved.byName.has('gw_mid')).toBe(false);
    expect(resolved.conflicts[0]?.withdrawn).toEqual(['gw_root', 'gw_mid']);
  });

  it('lets an extra protocol of the same version replace a built-in incompatibly, withdrawing the built-in users', () => {
    const override = protocol('p_override', iface('gw_surface', 6, [message('replaced')]));
    const resolved = resolveInterfaces([stable, override]);
    expect(resolved.byName.get('gw_surface')?.requests[0]?.name).toBe('replaced');
    expect(resolved.byName.has('gw_base')).toBe(false);
    expect(resolved.conflicts.map((c) => [c.kept, c.shadowed, c.withdrawn])).toEqual([
      ['p_override', 'p_stable', ['gw_base']],
    ]);
  });
});

describe('the registry over real protocol families', () => {
  it('keeps the built-in definition when an older release of a family is loaded beside it', () => {
    const builtin = new ProtocolRegistry();
    const layerShell = builtin.get('zwlr_layer_shell_v1');
    if (layerShell === undefined) throw new Error('zwlr_layer_shell_v1 missing');
    const older = protocol('wlr_layer_shell_unstable_v1', {
      ...layerShell,
      version: 1,
      requests: layerShell.requests.filter((m) => m.since === 1),
      events: layerShell.events.filter((m) => m.since === 1),
    });
    const registry = new ProtocolRegistry([older]);
    expect(registry.get('zwlr_layer_shell_v1')).toBe(layerShell);
    expect(registry.conflicts).toEqual(builtin.conflicts);
  });
});
