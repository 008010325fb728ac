// One entry point to make a grant backend by name (from the CLI or a config file), with
// each backend's own options typed by name.

import { UnknownGrantBackendError } from './errors.js';
import { GntallocGrantBackend, type GntallocGrantOptions } from './gntalloc.js';
import { MemfdGrantBackend, type MemfdGrantOptions } from './memfd.js';
import { SimGrantBackend, type SimGrantOptions } from './sim.js';
import type { GrantBackendName } from './types.js';

export interface GrantBackendOptionsByName {
  sim: SimGrantOptions;
  memfd: MemfdGrantOptions;
  gntalloc: GntallocGrantOptions;
}

export interface GrantBackendByName {
  sim: SimGrantBackend;
  memfd: MemfdGrantBackend;
  gntalloc: GntallocGrantBackend;
}

export const GRANT_BACKEND_NAMES: readonly GrantBackendName[] = ['sim', 'memfd', 'gntalloc'];

export function isGrantBackendName(name: string): name is GrantBackendName {
  return (GRANT_BACKEND_NAMES as readonly string[]).includes(name);
}

/** gntalloc needs its options (domid); the others default theirs. */
type OptionsArg<N extends GrantBackendName> = N extends 'gntalloc'
  ? [options: GrantBackendOptionsByName[N]]
  : [options?: GrantBackendOptionsByName[N]];

/**
 * Makes the named backend. Throws UnknownGrantBackendError for a name that is none of
 * them (untyped callers), GntallocUnavailableError for gntalloc off Xen.
 */
export function createGrantBackend<N extends GrantBackendName>(
  name: N,
  ...[options]: OptionsArg<N>
): GrantBackendByName[N];
export function createGrantBackend(
  name: GrantBackendName,
  options?: SimGrantOptions | MemfdGrantOptions | GntallocGrantOptions,
): SimGrantBackend | MemfdGrantBackend | GntallocGrantBackend {
  switch (name) {
    case 'sim':
      return new SimGrantBackend(options);
    case 'memfd':
      return new MemfdGrantBackend(options);
    case 'gntalloc':
      if (options === undefined || !('domid' in options)) {
        throw new TypeError('the gntalloc grant backend needs options.domid');
      }
      return new GntallocGrantBackend(options);
    default:
      throw new UnknownGrantBackendError(String(name));
  }
}
