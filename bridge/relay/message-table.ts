// Per-interface tables compiled once from the protocol description, so the relay's
// per-message path is two array loads and a flag test: the bridge decodes only the
// messages that change what it must know (objects created or destroyed, fds to carry,
// the registry and display messages it acts on) and forwards all others as bytes.

import type { ProtocolRegistry } from '../protocol/registry.js';
import type { InterfaceSpec, MessageSpec } from '../protocol/types.js';
import { fixedWordKinds } from '../wire/decode.js';

const NO_KINDS = new Uint8Array(0);

/** Why a message must be decoded rather than forwarded as opaque bytes. */
export const MessageFlags = {
  None: 0,
  /** Creates an object (typed or untyped new_id). */
  NewId: 1,
  /** Carries fds that must move with it. */
  Fds: 2,
  /** Destroys its sender object. */
  Destructor: 4,
  /** The relay acts on this message itself (display, registry). */
  Special: 8,
  /** A session observer asked to see this message. */
  Observed: 16,
  /**
   * Observed wl_surface.damage (surface coordinates) or damage_buffer (buffer
   * coordinates): the relay hands its four words to SessionObserver.onDamage when the
   * observer has it, without building a message (the bulk of a frame's requests).
   */
  SurfaceDamage: 32,
  BufferDamage: 64,
  /**
   * A request whose handling costs the event loop real work (grant mode's commit: its
   * damage made into spans, a copy queued): the relay handles it only once every other
   * connection ready in the same turn has been read (message-relay.ts, "deferred").
   */
  Deferred: 128,
} as const;

/** The damage requests that may take the onDamage path, with their flag. */
const DAMAGE: Readonly<Record<string, number>> = {
  'wl_surface.damage': MessageFlags.SurfaceDamage,
  'wl_surface.damage_buffer': MessageFlags.BufferDamage,
};

export interface MessageMeta {
  readonly spec: MessageSpec;
  readonly opcode: number;
  readonly flags: number;
  readonly fdCount: number;
  readonly since: number;
  /**
   * Size in bytes when every argument has a fixed size (no string or array), else -1.
   * Such messages can be understood by reading words at known offsets, without
   * decoding: the relay's fast path for new_ids and destructors.
   */
  readonly fixedSize: number;
  /** For fixed-size messages: byte offset (from the header) of each typed new_id. */
  readonly newIdOffsets: readonly number[];
  /** Interface of the new_id at the same index of newIdOffsets. */
  readonly newIdInterfaces: readonly string[];
  /** For fixed-size messages: how each argument word is read (wire fixedWordKinds). */
  readonly fixedKinds: Uint8Array;
}

export interface InterfaceTable {
  readonly spec: InterfaceSpec;
  readonly name: string;
  readonly requests: readonly MessageMeta[];
  readonly events: readonly MessageMeta[];
}

const SPECIAL: Readonly<
  Record<string, { requests: readonly string[]; events: readonly string[] }>
> = {
  wl_display: { requests: [], events: ['error', 'delete_id'] },
  wl_registry: { requests: ['bind'], events: ['global', 'global_remove'] },
};

function compileMessage(
  spec: MessageSpec,
  opcode: number,
  special: boolean,
  observed: boolean,
  damage = 0,
  deferred = false,
): MessageMeta {
  let flags: number = special ? MessageFlags.Special : MessageFlags.None;
  if (observed) flags |= MessageFlags.Observed | damage;
  if (deferred) flags |= MessageFlags.Deferred;
  let fdCount = 0;
  for (const arg of spec.args) {
    if (arg.type === 'new_id') flags |= MessageFlags.NewId;
    else if (arg.type === 'fd') fdCount++;
  }
  if (fdCount > 0) flags |= MessageFlags.Fds;
  if (spec.destructor) flags |= MessageFlags.Destructor;
  let offset = 8;
  let fixed = true;
  const newIdOffsets: number[] = [];
  const newIdInterfaces: string[] = [];
  for (const arg of spec.args) {
    if (arg.type === 'string' || arg.type === 'array') fixed = false;
    if (arg.type === 'new_id' && arg.interface === undefined) fixed = false;
    if (!fixed) break;
    if (arg.type === 'new_id' && arg.interface !== undefined) {
      newIdOffsets.push(offset);
      newIdInterfaces.push(arg.interface);
    }
    if (arg.type !== 'fd') offset += 4; // fds travel beside the bytes
  }
  return {
    spec,
    opcode,
    flags,
    fdCount,
    since: spec.since,
    fixedSize: fixed ? offset : -1,
    newIdOffsets: fixed ? newIdOffsets : [],
    newIdInterfaces: fixed ? newIdInterfaces : [],
    fixedKinds: fixed ? fixedWordKinds(spec) : NO_KINDS,
  };
}

/** Message names, by interface, that must be decoded for someone outside the relay. */
export interface ObservedMessages {
  readonly requests: Readonly<Record<string, readonly string[]>>;
  readonly events: Readonly<Record<string, readonly string[]>>;
  /** Requests handled after the other connections ready in the same turn (Deferred). */
  readonly deferred?: Readonly<Record<string, readonly string[]>>;
}

const NOTHING_OBSERVED: ObservedMessages = { requests: {}, events: {} };

export function compileInterface(
  spec: InterfaceSpec,
  observed: ObservedMessages = NOTHING_OBSERVED,
): InterfaceTable {
  const special = SPECIAL[spec.name];
  const watchedRequests = observed.requests[spec.name] ?? [];
  const watchedEvents = observed.events[spec.name] ?? [];
  const deferredRequests = observed.deferred?.[spec.name] ?? [];
  return {
    spec,
    name: spec.name,
    requests: spec.requests.map((m, i) =>
      compileMessage(
        m,
        i,
        special?.requests.includes(m.name) ?? false,
        watchedRequests.includes(m.name),
        DAMAGE[`${spec.name}.${m.name}`],
        deferredRequests.includes(m.name),
      ),
    ),
    events: spec.events.map((m, i) =>
      compileMessage(
        m,
        i,
        special?.events.includes(m.name) ?? false,
        watchedEvents.includes(m.name),
      ),
    ),
  };
}

/** Compiled tables for every interface of a registry, built lazily and shared by sessions. */
export class MessageTables {
  private readonly tables = new Map<string, InterfaceTable>();

  constructor(
    private readonly registry: ProtocolRegistry,
    private readonly observed: ObservedMessages = NOTHING_OBSERVED,
  ) {}

  get(name: string): InterfaceTable | undefined {
    let table = this.tables.get(name);
    if (table === undefined) {
      const spec = this.registry.get(name);
      if (spec === undefined) return undefined;
      table = compileInterface(spec, this.observed);
      this.tables.set(name, table);
    }
    return table;
  }

  /** wl_display is part of every connection from its first byte. */
  display(): InterfaceTable {
    const table = this.get('wl_display');
    if (table === undefined) throw new Error('protocol tables lack wl_display');
    return table;
  }
}
