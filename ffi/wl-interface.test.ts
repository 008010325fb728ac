// The libwayland signature strings and the native wl_interface tables, checked without a
// compositor: a wrong signature letter or a wrong types slot would make libwayland
// misparse messages (or abort), far from the cause.

import { describe, expect, it } from 'vitest';
import { ProtocolRegistry } from '../bridge/protocol/registry.js';
import type { InterfaceSpec, MessageSpec } from '../bridge/protocol/types.js';
import { type NativePointer, nativeView } from './libc.js';
import {
  argSlots,
  messageSignature,
  NativeInterfaceTable,
  nativeBlocksInUse,
} from './wl-interface.js';

const message = (partial: Partial<MessageSpec> & Pick<MessageSpec, 'args'>): MessageSpec => ({
  name: 'm',
  since: 1,
  destructor: false,
  ...partial,
});

describe('messageSignature', () => {
  it('spells every wire type with libwayland’s letter', () => {
    const m = message({
      args: [
        { name: 'a', type: 'int' },
        { name: 'b', type: 'uint' },
        { name: 'c', type: 'fixed' },
        { name: 'd', type: 'string' },
        { name: 'e', type: 'object', interface: 'wl_surface' },
        { name: 'f', type: 'new_id', interface: 'wl_callback' },
        { name: 'g', type: 'array' },
        { name: 'h', type: 'fd' },
      ],
    });
    expect(messageSignature(m)).toBe('iufsonah');
  });

  it('prefixes the since version only above 1', () => {
    expect(messageSignature(message({ since: 1, args: [{ name: 'x', type: 'int' }] }))).toBe('i');
    expect(messageSignature(message({ since: 5, args: [{ name: 'x', type: 'int' }] }))).toBe('5i');
    expect(messageSignature(message({ since: 12, args: [] }))).toBe('12');
  });

  it('marks nullable strings, objects, new_ids and arrays with ?, and only those', () => {
    const m = message({
      since: 2,
      args: [
        { name: 's', type: 'string', nullable: true },
        { name: 'u', type: 'uint', nullable: true },
        { name: 'o', type: 'object', interface: 'wl_buffer', nullable: true },
        { name: 'n', type: 'new_id', interface: 'wl_callback', nullable: true },
        { name: 'a', type: 'array', nullable: true },
      ],
    });
    expect(messageSignature(m)).toBe('2?su?o?n?a');
  });

  it('expands an untyped new_id to sun, as wl_registry.bind carries it', () => {
    const bind = message({
      name: 'bind',
      args: [
        { name: 'name', type: 'uint' },
        { name: 'id', type: 'new_id' },
      ],
    });
    expect(messageSignature(bind)).toBe('usun');
    expect(argSlots(bind).map((s) => `${s.code}:${s.part}`)).toEqual([
      'u:value',
      's:interface-name',
      'u:interface-version',
      'n:value',
    ]);
  });

  it('matches the signatures of real wayland.xml messages', () => {
    const registry = new ProtocolRegistry();
    const find = (iface: string, name: string): MessageSpec => {
      const spec = registry.get(iface);
      const found = [...(spec?.requests ?? []), ...(spec?.events ?? [])].find(
        (m) => m.name === name,
      );
      if (found === undefined) throw new Error(`${iface}.${name} missing`);
      return found;
    };
    expect(messageSignature(find('wl_surface', 'attach'))).toBe('?oii');
    expect(messageSignature(find('wl_surface', 'set_buffer_scale'))).toBe('3i');
    expect(messageSignature(find('wl_shm', 'create_pool'))).toBe('nhi');
    expect(messageSignature(find('wl_registry', 'bind'))).toBe('usun');
    expect(messageSignature(find('wl_data_offer', 'accept'))).toBe('u?s');
    expect(messageSignature(find('wl_pointer', 'motion'))).toBe('uff');
  });
});

// Reads C structs back through plain memory views (LP64 layouts from wayland-util.h).
function readPointer(ptr: NativePointer, offset: number): NativePointer {
  const bytes = nativeView(ptr + BigInt(offset), 8);
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
}

function readInt(ptr: NativePointer, offset: number): number {
  const bytes = nativeView(ptr + BigInt(offset), 4);
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0, true);
}

function readCString(ptr: NativePointer): string {
  let length = 0;
  while ((nativeView(ptr + BigInt(length), 1)[0] ?? 0) !== 0) length++;
  return Buffer.from(nativeView(ptr, length)).toString('utf8');
}

describe('NativeInterfaceTable', () => {
  it('lays out wl_interface and wl_message as libwayland reads them', () => {
    const before = nativeBlocksInUse();
    const registry = new ProtocolRegistry();
    const table = new NativeInterfaceTable(registry);
    const surface = table.pointerByName('wl_surface');
    const spec = registry.get('wl_surface') as InterfaceSpec;

    expect(readCString(readPointer(surface, 0))).toBe('wl_surface');
    expect(readInt(surface, 8)).toBe(spec.version);
    expect(readInt(surface, 12)).toBe(spec.requests.length);
    expect(readInt(surface, 24)).toBe(spec.events.length);

    const methods = readPointer(surface, 16);
    const attachIndex = spec.requests.findIndex((m) => m.name === 'attach');
    const attach = methods + BigInt(attachIndex * 24);
    expect(readCString(readPointer(attach, 0))).toBe('attach');
    expect(readCString(readPointer(attach, 8))).toBe('?oii');
    const types = readPointer(attach, 16);
    // Slot 0 is the wl_buffer object: it points at the (recursively built) wl_buffer.
    expect(readPointer(types, 0)).toBe(table.pointerByName('wl_buffer'));
    expect(readPointer(types, 8)).toBe(0n);
    expect(readPointer(types, 16)).toBe(0n);

    const events = readPointer(surface, 32);
    expect(readCString(readPointer(events, 0))).toBe(spec.events[0]?.name);

    // Built once per name; references were built too (wl_buffer, wl_callback, …).
    expect(table.pointerByName('wl_surface')).toBe(surface);
    expect(table.blockCount).toBeGreaterThan(1);
    table.dispose();
    expect(nativeBlocksInUse()).toBe(before);
  });

  it('leaves NULL for an interface nobody describes, and handles cycles', () => {
    const before = nativeBlocksInUse();
    const a: InterfaceSpec = {
      name: 'test_a',
      version: 2,
      requests: [
        {
          name: 'make',
          since: 1,
          destructor: false,
          args: [
            { name: 'id', type: 'new_id', interface: 'test_a' },
            { name: 'other', type: 'object', interface: 'test_missing', nullable: true },
          ],
        },
      ],
      events: [],
      enums: [],
    };
    const table = new NativeInterfaceTable({ get: (name) => (name === 'test_a' ? a : undefined) });
    const ptr = table.pointerOf(a);
    expect(table.pointerByName('test_missing')).toBe(0n);
    const make = readPointer(ptr, 16);
    expect(readCString(readPointer(make, 8))).toBe('n?o');
    const types = readPointer(make, 16);
    expect(readPointer(types, 0)).toBe(ptr);
    expect(readPointer(types, 8)).toBe(0n);
    expect(readPointer(ptr, 32)).toBe(0n);
    table.dispose();
    table.dispose();
    expect(nativeBlocksInUse()).toBe(before);
  });
});
