// Answers "what is interface X?" for the relay: the built-in generated tables plus any
// protocol XML the user points `--protocol-dir` at. Only a name → InterfaceSpec map; the
// relay derives its own per-message fast tables from the specs it gets here. Which
// definition a name stands for when protocols disagree is decided in resolve.ts.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { builtinProtocols } from './generated/index.js';
import { type InterfaceConflict, type ResolvedInterfaces, resolveInterfaces } from './resolve.js';
import type { InterfaceSpec, ProtocolSpec } from './types.js';
import { parseProtocolXml } from './xml.js';

/** A `--protocol-dir` that cannot be listed (missing, not a directory, no permission). */
export class ProtocolDirError extends Error {
  readonly code = 'ERR_PROTOCOL_DIR';
  override readonly name = 'ProtocolDirError';
  readonly dir: string;

  constructor(dir: string, cause: unknown) {
    super(`protocol directory ${dir} cannot be read: ${messageOf(cause)}`, { cause });
    this.dir = dir;
  }
}

/** A file of a protocol directory that was not loaded, and why. */
export interface SkippedProtocolFile {
  readonly path: string;
  /** The parser's or the file system's message; it names the file. */
  readonly reason: string;
}

export interface ProtocolDirContents {
  /** Every protocol that parsed, in code-unit order of relative path. */
  readonly protocols: ProtocolSpec[];
  /** Files that look like protocol XML but could not be read or parsed. */
  readonly skipped: SkippedProtocolFile[];
  /** `*.xml` files with no `<protocol>` element (other XML that shares the directory). */
  readonly notProtocols: string[];
}

/**
 * Parses every `*.xml` file under `dir`, subdirectories included (wayland-protocols keeps
 * its files in stage/name/ subdirectories). One bad file does not spoil the rest: it is
 * returned in `skipped` with the reason. Rejects with a ProtocolDirError only when `dir`
 * itself cannot be listed.
 */
export async function loadProtocolDir(dir: string): Promise<ProtocolDirContents> {
  const entries = await readdir(dir, { recursive: true }).catch((error: unknown) => {
    throw new ProtocolDirError(dir, error);
  });
  const xmlPaths = entries
    .filter((relativePath) => relativePath.endsWith('.xml'))
    // Code-unit order, not locale order: the same on every machine.
    .sort()
    .map((relativePath) => join(dir, relativePath));
  const contents: ProtocolDirContents = { protocols: [], skipped: [], notProtocols: [] };
  const texts = await Promise.all(
    xmlPaths.map((path) =>
      readFile(path, 'utf8').then(
        (text) => ({ path, text }),
        (error: unknown) => ({ path, error }),
      ),
    ),
  );
  for (const read of texts) {
    if ('error' in read) {
      contents.skipped.push({ path: read.path, reason: messageOf(read.error) });
    } else if (!read.text.includes('<protocol')) {
      contents.notProtocols.push(read.path);
    } else {
      try {
        contents.protocols.push(parseProtocolXml(read.text, read.path));
      } catch (error) {
        contents.skipped.push({ path: read.path, reason: messageOf(error) });
      }
    }
  }
  return contents;
}

/** The built-ins resolved once: most registries add nothing to them. */
let builtinResolution: ResolvedInterfaces | undefined;

/**
 * Interfaces by name, resolved from the built-in tables and then `extraProtocols` in the
 * order given (see resolve.ts for the rule when names clash: the higher version wins,
 * a later definition wins a tie, and an incompatible loser's protocol is withdrawn).
 */
export class ProtocolRegistry {
  /** Invariant: holds exactly the winning definition of each interface name. */
  readonly #interfacesByName: ReadonlyMap<string, InterfaceSpec>;
  /** Names defined incompatibly by two protocols, and what was withdrawn for it. */
  readonly conflicts: readonly InterfaceConflict[];

  constructor(extraProtocols: readonly ProtocolSpec[] = []) {
    const resolved =
      extraProtocols.length === 0
        ? (builtinResolution ??= resolveInterfaces(builtinProtocols))
        : resolveInterfaces([...builtinProtocols, ...extraProtocols]);
    this.#interfacesByName = resolved.byName;
    this.conflicts = resolved.conflicts;
  }

  /** Built-ins plus every protocol in `dir` that parses (see {@link loadProtocolDir}). */
  static async withProtocolDir(dir: string): Promise<ProtocolRegistry> {
    return new ProtocolRegistry((await loadProtocolDir(dir)).protocols);
  }

  get(name: string): InterfaceSpec | undefined {
    return this.#interfacesByName.get(name);
  }

  has(name: string): boolean {
    return this.#interfacesByName.has(name);
  }

  interfaces(): IterableIterator<InterfaceSpec> {
    return this.#interfacesByName.values();
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
