// The registry over the committed built-in tables and run-time XML: the interfaces the
// bridge depends on are present and shaped as the wire needs, a protocol directory adds
// to them, and the committed tables still match the XML installed on this machine.

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { builtinProtocols } from './generated/index.js';
import { loadProtocolDir, ProtocolRegistry } from './registry.js';
import { listSystemProtocolXml, WAYLAND_XML } from './system-xml.js';
import type { InterfaceSpec, ProtocolSpec } from './types.js';
import { ProtocolXmlError, parseProtocolXml } from './xml.js';

const FIXTURE_DIR = fileURLToPath(new URL('../../fixtures/protocols/', import.meta.url));

function mustGet(registry: ProtocolRegistry, name: string): InterfaceSpec {
  const spec = registry.get(name);
  if (spec === undefined) throw new Error(`${name} missing from the registry`);
  return spec;
}

function oneInterfaceProtocol(name: string, version: number, requestName: string): ProtocolSpec {
  return {
    name: `proto_${requestName}`,
    interfaces: [
      {
        name,
        version,
        requests: [{ name: requestName, since: 1, destructor: false, args: [] }],
        events: [],
        enums: [],
      },
    ],
  };
}

describe('ProtocolRegistry built-ins', () => {
  const registry = new ProtocolRegistry();

  it('has wl_display with its requests and events by opcode', () => {
    const display = mustGet(registry, 'wl_display');
    expect(display.requests.map((m) => m.name)).toEqual(['sync', 'get_registry']);
    expect(display.events.map((m) => m.name)).toEqual(['error', 'delete_id']);
  });

  it('has wl_registry.bind with an untyped new_id', () => {
    const bind = mustGet(registry, 'wl_registry').requests[0];
    expect(bind?.name).toBe('bind');
    expect(bind?.args).toStrictEqual([
      { name: 'name', type: 'uint' },
      { name: 'id', type: 'new_id' },
    ]);
  });

  it('has xdg_wm_base from wayland-protocols', () => {
    expect(registry.has('xdg_wm_base')).toBe(true);
    expect(registry.has('gw_test_manager')).toBe(false);
  });

  it('has the wl_shm.format values the pools use', () => {
    const format = mustGet(registry, 'wl_shm').enums.find((e) => e.name === 'format');
    const values = new Map(format?.entries.map((entry) => [entry.name, entry.value]));
    expect(values.get('argb8888')).toBe(0);
    expect(values.get('xrgb8888')).toBe(1);
  });

  it('picks stable xdg_surface over the version-1 one in xdg-shell-unstable-v5', () => {
    expect(mustGet(registry, 'xdg_surface').requests.map((m) => m.name)).toContain('get_toplevel');
  });

  it('iterates every interface once', () => {
    const names = [...registry.interfaces()].map((spec) => spec.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('wl_surface');
  });
});

describe('ProtocolRegistry redefinitions', () => {
  it('keeps the higher version whichever comes first', () => {
    const older = oneInterfaceProtocol('gw_x', 1, 'old');
    const newer = oneInterfaceProtocol('gw_x', 2, 'new');
    for (const order of [
      [older, newer],
      [newer, older],
    ]) {
      expect(new ProtocolRegistry(order).get('gw_x')?.requests[0]?.name).toBe('new');
    }
  });

  it('lets the later definition win on equal versions', () => {
    const registry = new ProtocolRegistry([
      oneInterfaceProtocol('gw_x', 1, 'first'),
      oneInterfaceProtocol('gw_x', 1, 'second'),
    ]);
    expect(registry.get('gw_x')?.requests[0]?.name).toBe('second');
  });
});

describe('protocol directories', () => {
  it('adds the fixture protocol at run time', async () => {
    const registry = await ProtocolRegistry.withProtocolDir(FIXTURE_DIR);
    const manager = mustGet(registry, 'gw_test_manager');
    expect(manager.version).toBe(3);
    expect(registry.has('gw_test_object')).toBe(true);
    expect(registry.has('wl_display')).toBe(true);
  });

  it('loads only *.xml files, in file-name order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'grantway-protocols-'));
    try {
      const xml = (name: string) => `<protocol name="${name}"></protocol>`;
      await writeFile(join(dir, 'b.xml'), xml('gw_b'));
      await writeFile(join(dir, 'a.xml'), xml('gw_a'));
      await writeFile(join(dir, 'notes.txt'), 'not a protocol');
      expect((await loadProtocolDir(dir)).map((spec) => spec.name)).toEqual(['gw_a', 'gw_b']);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('names the file of malformed XML', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'grantway-protocols-'));
    try {
      await writeFile(join(dir, 'bad.xml'), '<protocol name="gw"><interface name="x"/></protocol>');
      const error = await loadProtocolDir(dir).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ProtocolXmlError);
      expect((error as ProtocolXmlError).sourceName).toBe(join(dir, 'bad.xml'));
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe.skipIf(!existsSync(WAYLAND_XML))('generated tables against the installed XML', () => {
  it('every built-in table deep-equals the parse of its XML', async () => {
    const sources = (await listSystemProtocolXml()) ?? [];
    const builtinsByName = new Map(builtinProtocols.map((spec) => [spec.name, spec]));
    expect(sources.length).toBe(builtinProtocols.length);
    for (const { path } of sources) {
      const parsed = parseProtocolXml(await readFile(path, 'utf8'), path);
      expect(builtinsByName.get(parsed.name), path).toStrictEqual(parsed);
    }
  });
});
