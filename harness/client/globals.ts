// Binding a compositor's globals by interface name, for tests and scripts: every
// scripted client starts with get_registry, one roundtrip to collect the `global`
// events, then binds; one place for that keeps a global the compositor lacks (or
// offers below the version asked) a clear error naming it and what was offered, rather
// than a `!` that turns into a protocol error or a null far from the cause.

import type { ProtocolRegistry } from '../../bridge/protocol/registry.js';
import { WaylandUnknownInterfaceError } from './wayland-errors.js';
import type { WaylandClient, WaylandProxy } from './wayland-client.js';

/** Interface name → the version to bind it at. */
export type WantedGlobals = Readonly<Record<string, number>>;

/** The bound proxies, by the interface names asked for. */
export type BoundGlobals<W extends WantedGlobals> = { readonly [K in keyof W]: WaylandProxy };

/** A global announced by the compositor's registry. */
export interface OfferedGlobal {
  readonly name: number;
  readonly version: number;
}

/** A wanted global is not announced by the compositor, or only below the version asked. */
export class MissingGlobalError extends Error {
  readonly code = 'ERR_WAYLAND_MISSING_GLOBAL';
  override readonly name = 'MissingGlobalError';

  constructor(
    readonly interfaceName: string,
    readonly version: number,
    /** Every interface the compositor announced, with its version. */
    readonly offered: ReadonlyMap<string, OfferedGlobal>,
  ) {
    const have = offered.get(interfaceName);
    const list = [...offered].map(([iface, g]) => `${iface} v${g.version}`).join(', ');
    const what =
      have === undefined
        ? `no ${interfaceName}`
        : `${interfaceName} only at v${have.version}, not v${version}`;
    super(`the compositor offers ${what} (offered: ${list || 'nothing'})`);
  }
}

/** Binds `wanted` after one roundtripAsync (the client must be attached to the loop). */
export async function bindGlobals<W extends WantedGlobals>(
  client: WaylandClient,
  protocols: ProtocolRegistry,
  wanted: W,
): Promise<BoundGlobals<W>> {
  const listing = listGlobals(client);
  await client.roundtripAsync();
  return bindWanted(listing, protocols, wanted);
}

/** Binds `wanted` after one blocking roundtrip. */
export function bindGlobalsBlocking<W extends WantedGlobals>(
  client: WaylandClient,
  protocols: ProtocolRegistry,
  wanted: W,
): BoundGlobals<W> {
  const listing = listGlobals(client);
  client.roundtrip();
  return bindWanted(listing, protocols, wanted);
}

interface Listing {
  readonly registry: WaylandProxy;
  readonly offered: Map<string, OfferedGlobal>;
}

function listGlobals(client: WaylandClient): Listing {
  const registry = client.display.request('get_registry') as WaylandProxy;
  const offered = new Map<string, OfferedGlobal>();
  registry.on('global', ([name, iface, version]) => {
    offered.set(iface as string, { name: name as number, version: version as number });
  });
  return { registry, offered };
}

// Checks every wanted global before binding any (no half-bound set on error), then binds
// in the order of `wanted`'s keys, so callers keep control of the new ids' order.
function bindWanted<W extends WantedGlobals>(
  { registry, offered }: Listing,
  protocols: ProtocolRegistry,
  wanted: W,
): BoundGlobals<W> {
  const plan = Object.entries(wanted).map(([iface, version]) => {
    const global = offered.get(iface);
    if (global === undefined || global.version < version) {
      throw new MissingGlobalError(iface, version, offered);
    }
    const spec = protocols.get(iface);
    if (spec === undefined) throw new WaylandUnknownInterfaceError(iface);
    return { iface, version, name: global.name, spec };
  });
  const bound: Record<string, WaylandProxy> = {};
  for (const { iface, version, name, spec } of plan) {
    bound[iface] = registry.request('bind', [name, spec, version]) as WaylandProxy;
  }
  return bound as BoundGlobals<W>;
}
