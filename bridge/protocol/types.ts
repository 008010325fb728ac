// The shape of a Wayland protocol as the bridge needs it: enough to frame, decode and
// track every message, and nothing of the upstream documentation. Generated tables
// (bridge/protocol/generated/) and protocol XML loaded at run time both produce these.

/** Wire types of the Wayland protocol, as spelled in protocol XML. */
export type ArgType = 'int' | 'uint' | 'fixed' | 'string' | 'object' | 'new_id' | 'array' | 'fd';

export interface ArgSpec {
  readonly name: string;
  readonly type: ArgType;
  /**
   * For `object` and `new_id`: the interface of the referenced object. Absent for an
   * untyped object, and for the untyped new_id of `wl_registry.bind`, which the wire
   * carries as (string interface, uint version, new_id).
   */
  readonly interface?: string;
  /** `allow-null="true"`: object id 0 or a null string may appear. */
  readonly nullable?: boolean;
  /** `enum="…"` attribute as written (may name another interface: `wl_shm.format`). */
  readonly enum?: string;
}

export interface MessageSpec {
  readonly name: string;
  /** Interface version that introduced the message (1 when the XML says nothing). */
  readonly since: number;
  /** `type="destructor"`: the sender's object is dead once this is sent. */
  readonly destructor: boolean;
  readonly args: readonly ArgSpec[];
}

export interface EnumEntrySpec {
  readonly name: string;
  readonly value: number;
  readonly since: number;
}

export interface EnumSpec {
  readonly name: string;
  readonly bitfield: boolean;
  readonly entries: readonly EnumEntrySpec[];
}

export interface InterfaceSpec {
  readonly name: string;
  /** Highest version this table describes. */
  readonly version: number;
  /** Requests (client → compositor), indexed by opcode. */
  readonly requests: readonly MessageSpec[];
  /** Events (compositor → client), indexed by opcode. */
  readonly events: readonly MessageSpec[];
  readonly enums: readonly EnumSpec[];
}

export interface ProtocolSpec {
  /** `<protocol name="…">`. */
  readonly name: string;
  readonly interfaces: readonly InterfaceSpec[];
}
