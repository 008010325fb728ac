// Where the protocol XML of the built-in tables lives: the repository's protocols/
// directory, one subdirectory per protocol family, each file the family's own
// specification as published upstream (see protocols/README.md for origins and licences).
// Shared by the generator and by the test that checks the committed tables still match
// the XML, so both read exactly the same files in the same order. Keeping the XML in the
// repository (rather than reading Debian's packages) makes the tables the same on every
// machine and lets them be newer than any distribution ships.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface ProtocolFamily {
  /** Subdirectory of protocols/ holding the family's XML (searched recursively). */
  readonly dir: string;
  /** Where the family is maintained. */
  readonly upstream: string;
  /** The upstream release or commit the files were taken from. */
  readonly version: string;
}

/**
 * Every family built into the bridge, in the order their tables are registered. The
 * order matters only for two incompatible definitions of one interface at the same
 * version (the later one wins, see ProtocolRegistry); the core protocol comes first.
 */
export const PROTOCOL_FAMILIES: readonly ProtocolFamily[] = [
  {
    dir: 'wayland',
    upstream: 'https://gitlab.freedesktop.org/wayland/wayland',
    version: '1.26.0',
  },
  {
    dir: 'wayland-protocols',
    upstream: 'https://gitlab.freedesktop.org/wayland/wayland-protocols',
    version: '1.49',
  },
  {
    dir: 'wlr-protocols',
    upstream: 'https://gitlab.freedesktop.org/wlroots/wlr-protocols',
    version: 'a741f0ac5d655338a5100fc34bc8cec87d237346',
  },
  {
    dir: 'wlroots',
    upstream: 'https://gitlab.freedesktop.org/wlroots/wlroots',
    version: '0855cdacb2eeeff35849e2e9c4db0aa996d78d10',
  },
  {
    dir: 'mesa',
    upstream: 'https://gitlab.freedesktop.org/mesa/mesa',
    version: 'wlroots 0855cdacb2eeeff35849e2e9c4db0aa996d78d10',
  },
  {
    dir: 'plasma-wayland-protocols',
    upstream: 'https://invent.kde.org/libraries/plasma-wayland-protocols',
    version: 'v1.21.0',
  },
  {
    dir: 'gtk',
    upstream: 'https://gitlab.gnome.org/GNOME/gtk',
    version: '4.8.3',
  },
  {
    dir: 'weston',
    upstream: 'https://gitlab.freedesktop.org/wayland/weston',
    version: '15.0.0; weston-screenshooter.xml 11.0.3',
  },
  {
    dir: 'wayfire',
    upstream: 'https://github.com/WayfireWM/wayfire',
    version: 'v0.11.0',
  },
];

/** wayland-protocols keeps its stages in subdirectories; this is their order. */
const STAGE_ORDER = ['stable', 'staging', 'unstable', 'experimental'];

export interface ProtocolSource {
  /** Absolute path of the XML file. */
  readonly path: string;
  /** Path relative to the protocols/ directory, with `/` separators. */
  readonly relativePath: string;
  readonly family: ProtocolFamily;
}

/**
 * Every `*.xml` under each family's directory of `protocolsDir`, family by family in
 * PROTOCOL_FAMILIES order, then by wayland-protocols stage, then by path in code-unit
 * order (the same on every machine). This order decides the order of `builtinProtocols`.
 */
export async function listProtocolSources(protocolsDir: string): Promise<ProtocolSource[]> {
  const found: ProtocolSource[] = [];
  for (const family of PROTOCOL_FAMILIES) {
    const familyDir = join(protocolsDir, family.dir);
    const relativePaths = (await readdir(familyDir, { recursive: true }))
      .map((path) => path.split('\\').join('/'))
      .filter((path) => path.endsWith('.xml'))
      .sort(compareByStage);
    for (const path of relativePaths) {
      found.push({ path: join(familyDir, path), relativePath: `${family.dir}/${path}`, family });
    }
  }
  return found;
}

function compareByStage(a: string, b: string): number {
  const stageDifference = stageRank(a) - stageRank(b);
  if (stageDifference !== 0) return stageDifference;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Files outside a stage directory (every family but wayland-protocols) rank equal. */
function stageRank(path: string): number {
  const rank = STAGE_ORDER.indexOf(path.split('/')[0] ?? '');
  return rank === -1 ? STAGE_ORDER.length : rank;
}
