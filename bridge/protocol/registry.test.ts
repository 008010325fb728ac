// The registry over the committed built-in tables and run-time XML: the interfaces the
// bridge depends on are present and shaped as the wire needs, every protocol family a
// desktop advertises is built in, a protocol directory adds to them (one bad file
// skipped, not fatal), and the committed tables still match the XML in protocols/.

import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { builtinProtocols } from './generated/index.js';
import { loadProtocolDir, ProtocolDirError, ProtocolRegistry } from './registry.js';
import { listProtocolSources, PROTOCOL_FAMILIES } from './sources.js';
import type { InterfaceSpec } from './types.js';
import { parseProtocolXml } from './xml.js';

const FIXTURE_DIR = fileURLToPath(new URL('../../fixtures/protocols/', import.meta.url));
const PROTOCOLS_DIR = fileURLToPath(new URL('../../protocols/', import.meta.url));

function mustGet(registry: ProtocolRegistry, name: string): InterfaceSpec {
  const spec = registry.get(name);
  if (spec === undefined) throw new Error(`${name} missing from the registry`);
  return spec;
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'grantway-protocols-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true });
  }
}

const protocolXml = (name: string, body = ''): string =>
  `<protocol name="${name}">${body}</protocol>`;

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

  it('withdraws xdg-shell-unstable-v5, whose xdg_surface it would parse with the stable table', () => {
    expect(registry.has('xdg_shell')).toBe(false);
    expect(registry.conflicts.map((c) => [c.interfaceName, c.kept, c.shadowed])).toEqual([
      ['xdg_surface', 'xdg_shell', 'xdg_shell_unstable_v5'],
      ['xdg_popup', 'xdg_shell', 'xdg_shell_unstable_v5'],
    ]);
  });

  // The globals sway, kwin, mutter and weston advertise beyond wayland-protocols (from
  // wayland-info on each), one per family: none may be hidden for lack of a table.
  it.each([
    ['wlr-protocols (sway, kwin)', 'zwlr_layer_shell_v1'],
    ['wlr-protocols', 'zwlr_data_control_manager_v1'],
    ['wlr-protocols', 'zwlr_screencopy_manager_v1'],
    ['wlroots (sway)', 'zwp_input_method_manager_v2'],
    ['wlroots (sway)', 'zwp_virtual_keyboard_manager_v1'],
    ['plasma-wayland-protocols (kwin, sway)', 'org_kde_kwin_server_decoration_manager'],
    ['plasma-wayland-protocols (kwin)', 'org_kde_plasma_shell'],
    ['plasma-wayland-protocols (kwin)', 'kde_output_device_v2'],
    ['plasma-wayland-protocols (kwin)', 'zwp_text_input_manager_v2'],
    ['gtk (mutter)', 'gtk_shell1'],
    ['weston', 'weston_desktop_shell'],
    ['weston', 'weston_screenshooter'],
    ['weston (--debug)', 'weston_debug_v1'],
    ['mesa (GL compositors, Xwayland)', 'wl_drm'],
    ['wayfire', 'zwf_shell_manager_v2'],
    ['wayland-protocols 1.49', 'ext_image_copy_capture_manager_v1'],
    ['wayland 1.26', 'wl_fixes'],
  ])('has %s: %s', (_family, interfaceName) => {
    expect(registry.has(interfaceName)).toBe(true);
  });

  it('iterates every interface once', () => {
    const names = [...registry.interfaces()].map((spec) => spec.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('wl_surface');
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

  it('loads *.xml files in subdirectories too, in path order', async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'stable', 'c'), { recursive: true });
      await writeFile(join(dir, 'b.xml'), protocolXml('gw_b'));
      await writeFile(join(dir, 'a.xml'), protocolXml('gw_a'));
      await writeFile(join(dir, 'stable', 'c', 'c.xml'), protocolXml('gw_c'));
      await writeFile(join(dir, 'notes.txt'), 'not a protocol');
      const { protocols, skipped } = await loadProtocolDir(dir);
      expect(protocols.map((spec) => spec.name)).toEqual(['gw_a', 'gw_b', 'gw_c']);
      expect(skipped).toEqual([]);
    });
  });

  it('skips a malformed file, naming it and the problem, and loads the others', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'bad.xml'), protocolXml('gw', '<interface name="x"/>'));
      await writeFile(join(dir, 'good.xml'), protocolXml('gw_good'));
      const { protocols, skipped } = await loadProtocolDir(dir);
      expect(protocols.map((spec) => spec.name)).toEqual(['gw_good']);
      expect(skipped).toEqual([
        {
          path: join(dir, 'bad.xml'),
          reason: `${join(dir, 'bad.xml')}: interface x: missing version`,
        },
      ]);
    });
  });

  it('skips a file it cannot read (a dangling link), naming it', async () => {
    await withTempDir(async (dir) => {
      await symlink(join(dir, 'gone.xml'), join(dir, 'link.xml'));
      await writeFile(join(dir, 'ok.xml'), protocolXml('gw_ok'));
      const { protocols, skipped } = await loadProtocolDir(dir);
      expect(protocols.map((spec) => spec.name)).toEqual(['gw_ok']);
      expect(skipped.map((file) => file.path)).toEqual([join(dir, 'link.xml')]);
      expect(skipped[0]?.reason).toMatch(/ENOENT.*link\.xml/);
    });
  });

  it('sets XML that is no Wayland protocol apart (wayfire keeps its metadata beside it)', async () => {
    await withTempDir(async (dir) => {
      await writeFile(join(dir, 'metadata.xml'), '<wayfire><plugin name="grid"/></wayfire>');
      const { protocols, skipped, notProtocols } = await loadProtocolDir(dir);
      expect([protocols, skipped, notProtocols]).toEqual([[], [], [join(dir, 'metadata.xml')]]);
    });
  });

  it('refuses a directory that cannot be listed, with an error that names it', async () => {
    const missing = join(tmpdir(), 'grantway-no-such-protocol-dir');
    const error = await loadProtocolDir(missing).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ProtocolDirError);
    expect((error as ProtocolDirError).code).toBe('ERR_PROTOCOL_DIR');
    expect((error as ProtocolDirError).message).toMatch(
      new RegExp(`^protocol directory ${missing} cannot be read: ENOENT`),
    );
  });
});

describe('the committed tables', () => {
  it('every built-in table deep-equals the parse of its XML in protocols/', async () => {
    const sources = await listProtocolSources(PROTOCOLS_DIR);
    expect(sources.length).toBe(builtinProtocols.length);
    for (const [index, { path }] of sources.entries()) {
      const parsed = parseProtocolXml(await readFile(path, 'utf8'), path);
      expect(builtinProtocols[index], path).toStrictEqual(parsed);
    }
  });

  it('comes from exactly the families protocols/ holds, each documented in its README', async () => {
    const dirs = (await readdir(PROTOCOLS_DIR, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort();
    expect(PROTOCOL_FAMILIES.map((family) => family.dir).sort()).toEqual(dirs);
    const readme = await readFile(join(PROTOCOLS_DIR, 'README.md'), 'utf8');
    for (const family of PROTOCOL_FAMILIES) {
      expect(readme, family.dir).toContain(`\`${family.dir}/\``);
      expect(readme, family.dir).toContain(family.version);
    }
  });
});
