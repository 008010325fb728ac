// `--protocol-dir DIR...` as the commands use it: the registry of built-ins plus every
// directory's protocols, with each thing the user should hear of said in the log — a file
// skipped (named, with the reason), a directory that held no protocol, and a protocol that
// clashes with another one's definition of an interface (see resolve.ts). Only a directory
// that cannot be read at all is an error, so one bad file never refuses the rest.

import type { Logger } from 'pino';
import { loadProtocolDir, ProtocolRegistry } from './registry.js';
import type { InterfaceConflict } from './resolve.js';
import type { ProtocolSpec } from './types.js';

export type ProtocolDirLog = Pick<Logger, 'info' | 'warn'>;

/** Rejects with the file system's error when a directory cannot be listed. */
export async function registryWithProtocolDirs(
  dirs: readonly string[],
  log: ProtocolDirLog,
): Promise<ProtocolRegistry> {
  const extra: ProtocolSpec[] = [];
  for (const dir of dirs) {
    const { protocols, skipped, notProtocols } = await loadProtocolDir(dir);
    for (const { path, reason } of skipped) {
      log.warn({ dir, file: path, reason }, `protocol XML skipped: ${reason}`);
    }
    if (protocols.length === 0) {
      log.warn({ dir }, `--protocol-dir ${dir}: no Wayland protocol XML found there`);
    } else {
      log.info(
        { dir, protocols: protocols.length, skipped: skipped.length, other: notProtocols.length },
        `--protocol-dir ${dir}: loaded ${protocols.length} protocols`,
      );
    }
    extra.push(...protocols);
  }
  const registry = new ProtocolRegistry(extra);
  // Clashes among the built-ins are known and settled when the tables are generated;
  // only those a loaded directory brings in are news to the user.
  const builtinConflicts = new Set(new ProtocolRegistry().conflicts.map(conflictKey));
  for (const conflict of registry.conflicts) {
    if (builtinConflicts.has(conflictKey(conflict))) continue;
    const withdrawn =
      conflict.withdrawn.length === 0 ? 'nothing else' : conflict.withdrawn.join(', ');
    log.warn(
      { ...conflict },
      `protocols ${conflict.kept} and ${conflict.shadowed} define ${conflict.interfaceName} ` +
        `incompatibly: ${conflict.kept}'s is used; withdrawn from ${conflict.shadowed}: ${withdrawn}`,
    );
  }
  return registry;
}

function conflictKey({ interfaceName, kept, shadowed }: InterfaceConflict): string {
  return `${interfaceName} ${kept} ${shadowed}`;
}
