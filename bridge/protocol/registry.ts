// Answers "what is interface X?" for the relay: the built-in generated tables plus any
// protocol XML the user points `--protocol-dir` at. Only a name → InterfaceSpec map; the
// relay derives its own per-message fast tables from the specs it gets here.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { builtinProtocols } from './generated/index.js';
import type { InterfaceSpec, ProtocolSpec } from './types.js';
import { parseProtocolXml } from './xml.js';

/**
 * Parses every `*.xml` file directly inside `dir` (not recursively), in code-unit order
 * of file name. Rejects with a ProtocolXmlError naming the file for malformed XML, or
 * with the fs error if the directory or a file cannot be read.
 */
export async function loadProtocolDir(dir: string): Promise<ProtocolSpec[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const xmlNames = entries
    .filter((entry) => !entry.isDirectory() && entry.name.endsWith('.xml'))
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    xmlNames.map(async (name) => {
      const path = join(dir, name);
      return parseProtocolXml(await readFile(path, 'utf8'), path);
    }),
  );
}

/**
 * Interfaces by name. When several protocols define the same interface name, the
 * definition with the higher `version` wins; on equal versions the later one wins, so
 * extra protocols can replace a built-in definition of the same version. Nothing is
 * logged for a redefinition. (Built in, this matters for `xdg_surface`/`xdg_popup`,
 * which xdg-shell-unstable-v5 defines at version 1 and stable xdg-shell at a higher
 * version: the stable one wins.)
 */
export class ProtocolRegistry {
  /** Invariant: holds exactly the winning definition of each interface name. */
  readonly #interfacesByName = new Map<string, InterfaceSpec>();

  /** The built-in tables, then `extraProtocols` in the order given. */
  constructor(extraProtocols: readonly ProtocolSpec[] = []) {
    for (const protocol of [...builtinProtocols, ...extraProtocols]) {
      for (const spec of protocol.interfaces) this.#add(spec);
    }
  }

  /** Built-ins plus every protocol in `dir` (see {@link loadProtocolDir}). */
  static async withProtocolDir(dir: string): Promise<ProtocolRegistry> {
    return new ProtocolRegistry(await loadProtocolDir(dir));
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

  #add(spec: InterfaceSpec): void {
    const current = this.#interfacesByName.get(spec.name);
    if (current === undefined || spec.version >= current.version) {
      this.#interfacesByName.set(spec.name, spec);
    }
  }
}
