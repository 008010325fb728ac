// `--protocol-dir` as a user meets it: real distribution directories load whole, a bad
// file is named in a warning and skipped while the rest load, and a clash a directory
// brings in is said once.

import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ProtocolDirLog, registryWithProtocolDirs } from './protocol-dirs.js';
import { loadProtocolDir, ProtocolDirError } from './registry.js';

interface Line {
  readonly level: 'info' | 'warn';
  readonly fields: Record<string, unknown>;
  readonly message: string;
}

/** A logger that keeps what it is told, in pino's (fields, message) call shape. */
function recordingLog(): { log: ProtocolDirLog; lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: Line['level']) =>
    (fields: unknown, message?: unknown): void => {
      lines.push({ level, fields: fields as Record<string, unknown>, message: String(message) });
    };
  return { log: { info: at('info'), warn: at('warn') }, lines };
}

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'grantway-protocol-dirs-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true });
  }
}

describe('registryWithProtocolDirs', () => {
  it('warns about a bad file by name and loads the rest of the directory', async () => {
    await withTempDir(async (dir) => {
      await writeFile(
        join(dir, 'broken.xml'),
        '<protocol name="gw_broken"><interface name="gw_b" version="1"><enum name="e">' +
          '<entry name="x" value="1 + 1"/></enum></interface></protocol>',
      );
      await writeFile(
        join(dir, 'fine.xml'),
        '<protocol name="gw_fine"><interface name="gw_fine_manager" version="2"/></protocol>',
      );
      const { log, lines } = recordingLog();
      const registry = await registryWithProtocolDirs([dir], log);
      expect(registry.has('gw_fine_manager')).toBe(true);
      expect(registry.has('gw_b')).toBe(false);
      const warnings = lines.filter((line) => line.level === 'warn');
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.fields.file).toBe(join(dir, 'broken.xml'));
      expect(warnings[0]?.message).toBe(
        `protocol XML skipped: ${join(dir, 'broken.xml')}: interface gw_b > enum e > entry x: ` +
          'value "1 + 1" is not a number (decimal, 0x-hex, or N << M)',
      );
      expect(lines.filter((line) => line.level === 'info').map((line) => line.message)).toEqual([
        `--protocol-dir ${dir}: loaded 1 protocols`,
      ]);
    });
  });

  it('warns when a directory holds no protocol at all', async () => {
    await withTempDir(async (dir) => {
      const { log, lines } = recordingLog();
      await registryWithProtocolDirs([dir], log);
      expect(lines.map((line) => [line.level, line.message])).toEqual([
        ['warn', `--protocol-dir ${dir}: no Wayland protocol XML found there`],
      ]);
    });
  });

  it('warns once about a clash the directory brings in, and keeps quiet about built-in ones', async () => {
    await withTempDir(async (dir) => {
      // Same name and version as the built-in zwlr_layer_shell_v1, other messages: it wins
      // the tie (loaded later) and wlr-layer-shell's users of it are withdrawn.
      await writeFile(
        join(dir, 'impostor.xml'),
        '<protocol name="gw_impostor"><interface name="zwlr_layer_surface_v1" version="5">' +
          '<request name="something_else"/></interface></protocol>',
      );
      const { log, lines } = recordingLog();
      const registry = await registryWithProtocolDirs([dir], log);
      expect(registry.has('zwlr_layer_shell_v1')).toBe(false);
      const warnings = lines.filter((line) => line.level === 'warn').map((line) => line.message);
      expect(warnings).toEqual([
        'protocols gw_impostor and wlr_layer_shell_unstable_v1 define zwlr_layer_surface_v1 ' +
          "incompatibly: gw_impostor's is used; withdrawn from wlr_layer_shell_unstable_v1: " +
          'zwlr_layer_shell_v1',
      ]);
    });
  });

  it('refuses a directory that does not exist with a ProtocolDirError', async () => {
    const { log } = recordingLog();
    await expect(
      registryWithProtocolDirs([join(tmpdir(), 'grantway-no-such-dir')], log),
    ).rejects.toBeInstanceOf(ProtocolDirError);
  });
});

// What Debian ships (CI installs these packages): each directory loads whole, with no
// warning, including plasma-wayland-protocols 1.10's `1 << n` flag values.
const SYSTEM_DIRS = [
  '/usr/share/wayland',
  '/usr/share/wayland-protocols',
  '/usr/share/plasma-wayland-protocols',
];

describe.each(SYSTEM_DIRS)('--protocol-dir %s', (dir) => {
  it.skipIf(!existsSync(dir))('loads every file without a warning', async () => {
    const { log, lines } = recordingLog();
    await registryWithProtocolDirs([dir], log);
    expect(lines.filter((line) => line.level === 'warn')).toEqual([]);
    const { skipped, notProtocols } = await loadProtocolDir(dir);
    expect([skipped, notProtocols]).toEqual([[], []]);
  });
});

describe.skipIf(!existsSync('/usr/share/plasma-wayland-protocols'))(
  "Debian's plasma-wayland-protocols",
  () => {
    it('reads org_kde_plasma_window_management.state written as 1 << n', async () => {
      const { protocols } = await loadProtocolDir('/usr/share/plasma-wayland-protocols');
      const management = protocols
        .flatMap((protocol) => protocol.interfaces)
        .find((spec) => spec.name === 'org_kde_plasma_window_management');
      const state = management?.enums.find((spec) => spec.name === 'state');
      expect(state?.entries.slice(0, 3).map((entry) => [entry.name, entry.value])).toEqual([
        ['active', 1],
        ['minimized', 2],
        ['maximized', 4],
      ]);
    });
  },
);
