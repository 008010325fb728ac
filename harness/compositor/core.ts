// wl_display, wl_registry and wl_callback: the part of the protocol every client uses
// first. The registry announces the compositor's globals and binds them with
// libwayland-server's checks (unknown name, wrong interface, version 0 or above the
// global's: invalid_object on the registry).

import type { Client, Implementation, Request } from './connection.js';
import { DisplayError } from './errors.js';

export interface Global {
  readonly name: number;
  readonly interface: string;
  readonly version: number;
  bind(client: Client, id: number, version: number): void;
}

/** wl_display's requests for one client. */
export function displayImplementation(
  globals: () => readonly Global[],
  nextSerial: () => number,
): Implementation {
  return {
    requests: {
      sync: (r) => {
        const callback = r.client.createResource(r.number('callback'), 'wl_callback', 1, null, {
          requests: {},
        });
        callback.send('done', [nextSerial()]);
        callback.destroy();
      },
      get_registry: (r) => {
        const registry = r.client.createResource(r.number('registry'), 'wl_registry', 1, null, {
          requests: { bind: (b) => bind(b, globals()) },
        });
        for (const g of globals()) registry.send('global', [g.name, g.interface, g.version]);
      },
    },
  };
}

function bind(r: Request, globals: readonly Global[]): void {
  const name = r.number('name');
  const target = r.untypedNewId('id');
  const global = globals.find((g) => g.name === name);
  if (global === undefined || global.interface !== target.interface) {
    throw r.resource.error(
      DisplayError.invalidObject,
      `invalid global ${target.interface} (${name})`,
    );
  }
  if (target.version === 0 || target.version > global.version) {
    throw r.resource.error(
      DisplayError.invalidObject,
      `invalid version for global ${target.interface} (${name}): have ${global.version}, wanted ${target.version}`,
    );
  }
  global.bind(r.client, target.id, target.version);
}

/**
 * A global whose interface this compositor does not implement (like weston's private
 * protocols): it can be bound, and any request on it is an invalid method. It lets the
 * bridge's global filter be tested against the embedded compositor as against weston.
 */
export function opaqueGlobal(name: number, interfaceName: string, version: number): Global {
  return {
    name,
    interface: interfaceName,
    version,
    bind(client, id, boundVersion) {
      const spec = { name: interfaceName, version, requests: [], events: [], enums: [] };
      client.createResource(id, spec, boundVersion, null, { requests: {} });
    },
  };
}
