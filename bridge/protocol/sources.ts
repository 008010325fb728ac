// Where this machine keeps the protocol XML the built-in tables are generated from.
// Shared by the generator and by the test that checks the committed tables still match
// the installed XML, so both look at exactly the same files in the same order.

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export const WAYLAND_XML = '/usr/share/wayland/wayland.xml';
export const WAYLAND_PROTOCOLS_DIR = '/usr/share/wayland-protocols';
const PROTOCOL_STAGES = ['stable', 'staging', 'unstable'] as const;

export interface SystemProtocolXml {
  readonly path: string;
  /** Debian package that ships the file. */
  readonly packageName: 'libwayland-dev' | 'wayland-protocols';
}

/**
 * The core protocol first, then wayland-protocols by stage (stable, staging, unstable)
 * and path. The order is deterministic; it decides the order of `builtinProtocols`.
 * Returns undefined when wayland.xml or the wayland-protocols directory is missing.
 */
export async function listSystemProtocolXml(): Promise<SystemProtocolXml[] | undefined> {
  if (!(await isPresent(WAYLAND_XML)) || !(await isPresent(WAYLAND_PROTOCOLS_DIR))) {
    return undefined;
  }
  const found: SystemProtocolXml[] = [{ path: WAYLAND_XML, packageName: 'libwayland-dev' }];
  for (const stage of PROTOCOL_STAGES) {
    const stageDir = join(WAYLAND_PROTOCOLS_DIR, stage);
    if (!(await isPresent(stageDir))) continue;
    const relativePaths = (await readdir(stageDir, { recursive: true }))
      .filter((relativePath) => relativePath.endsWith('.xml'))
      // Code-unit order, not locale order: the same on every machine.
      .sort();
    for (const relativePath of relativePaths) {
      found.push({ path: join(stageDir, relativePath), packageName: 'wayland-protocols' });
    }
  }
  return found;
}

async function isPresent(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
