// What a client may bind, per session: the globals the compositor announced and the
// bridge let through (those with no loaded protocol are hidden, so the bridge never has
// to relay messages it cannot parse), with versions clamped to the protocol tables.
// Binds are judged as libwayland-server's registry_bind judges them, in the same order
// and with the same messages, so a client sees the same error with or without the bridge.
//
// A global the compositor removed stays bindable for a while: libwayland-server keeps a
// removed global in its list until the compositor destroys it (wl_global_remove, then
// wl_global_destroy after a grace of its choosing — wlroots waits 5 s), and a bind that
// crosses the global_remove on the wire succeeds there (the compositor makes an inert
// object). The bridge cannot know that grace, so it lets the compositor judge: it keeps
// the interface and version of the last removed globals and forwards a bind to one of
// them. The new object then goes in the object map like any other, so the events and
// requests that follow are parsed right; a compositor that has destroyed the global
// answers with its own error.

import { ClientProtocolError, DisplayErrorCode } from './errors.js';
import type { InterfaceTable } from './message-table.js';

/** A global the compositor announced and the bridge let through. */
export interface AdvertisedGlobal {
  readonly interfaceName: string;
  /** Version as told to the client: min(compositor's, protocol table's). */
  readonly version: number;
}

/**
 * Removed globals remembered per session. Global names are never reused by libwayland,
 * and a compositor removes few (outputs, seats on hot-plug): this bounds the memory,
 * not the grace, which the compositor decides.
 */
const REMOVED_KEPT = 64;

export class RegistryFilter {
  private readonly globals = new Map<number, AdvertisedGlobal>();
  private readonly hidden = new Set<number>();
  /** Insertion order is removal order: the oldest is evicted first. */
  private readonly removed = new Map<number, AdvertisedGlobal>();

  constructor(private readonly tableFor: (name: string) => InterfaceTable | undefined) {}

  /**
   * wl_registry.global: the version to tell the client (the compositor's, clamped to
   * the protocol table), or 'hide' when no loaded protocol describes the interface.
   */
  announce(name: number, interfaceName: string, version: number): number | 'hide' {
    const table = this.tableFor(interfaceName);
    if (table === undefined) {
      this.hidden.add(name);
      return 'hide';
    }
    const clamped = Math.min(version, table.spec.version);
    this.globals.set(name, { interfaceName, version: clamped });
    this.removed.delete(name);
    return clamped;
  }

  /** wl_registry.global_remove: 'hide' when the client never saw that global. */
  remove(name: number): 'hide' | 'pass' {
    if (this.hidden.delete(name)) return 'hide';
    const global = this.globals.get(name);
    if (global !== undefined) {
      this.globals.delete(name);
      this.removed.set(name, global);
      if (this.removed.size > REMOVED_KEPT) {
        const oldest = this.removed.keys().next();
        if (!oldest.done) this.removed.delete(oldest.value);
      }
    }
    return 'pass';
  }

  /**
   * wl_registry.bind: the table of the object it creates, or the error libwayland-server
   * would send (registry_bind's checks, in its order).
   */
  bind(registryId: number, name: number, interfaceName: string, version: number): InterfaceTable {
    const global = this.globals.get(name) ?? this.removed.get(name);
    if (global === undefined) {
      throw invalidObject(registryId, `invalid global ${interfaceName} (${name})`);
    }
    if (global.interfaceName !== interfaceName) {
      // libwayland's wording, which names the client's interface first.
      throw invalidObject(
        registryId,
        `invalid interface for global ${name}: have ${interfaceName}, wanted ${global.interfaceName}`,
      );
    }
    if (version === 0) {
      throw invalidObject(
        registryId,
        `invalid version for global ${interfaceName} (${name}): 0 is not a valid version`,
      );
    }
    if (version > global.version) {
      throw invalidObject(
        registryId,
        `invalid version for global ${interfaceName} (${name}): have ${global.version}, wanted ${version}`,
      );
    }
    const table = this.tableFor(interfaceName);
    // announce() only lets through globals that have a table.
    if (table === undefined) throw new Error(`advertised global without table: ${interfaceName}`);
    return table;
  }
}

function invalidObject(registryId: number, message: string): ClientProtocolError {
  return new ClientProtocolError(registryId, DisplayErrorCode.invalidObject, message);
}
