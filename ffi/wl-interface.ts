// libwayland-client marshals requests and demarshals events by walking C `struct
// wl_interface` / `struct wl_message` tables, which wayland-scanner normally emits as
// static C data. Scripted test clients must speak whatever protocol the caller describes,
// so this module builds those tables at run time, in native memory, from a description
// of each interface. The description is structural (the bridge's InterfaceSpec has this
// shape), so ffi/ depends on no protocol code. The pure part (signature strings,
// argument slots) is exported on its own so it can be tested without a display.

import { type NativePointer, nativeAlloc, nativeFree, nativeView } from './libc.js';

/** Wire types, as spelled in protocol XML. */
export type WlArgType = 'int' | 'uint' | 'fixed' | 'string' | 'object' | 'new_id' | 'array' | 'fd';

/** What a `struct wl_message` needs of an argument. */
export interface WlArgDescription {
  readonly name: string;
  readonly type: WlArgType;
  /** The referenced interface of an object or new_id; absent when untyped. */
  readonly interface?: string;
  readonly nullable?: boolean;
}

/** What a `struct wl_message` needs of a request or event. */
export interface WlMessageDescription {
  readonly name: string;
  /** Interface version that introduced the message. */
  readonly since: number;
  readonly args: readonly WlArgDescription[];
}

/** What a `struct wl_interface` needs; requests and events indexed by opcode. */
export interface WlInterfaceDescription {
  readonly name: string;
  readonly version: number;
  readonly requests: readonly WlMessageDescription[];
  readonly events: readonly WlMessageDescription[];
}

/** Where referenced interfaces come from: the ProtocolRegistry has this shape. */
export interface InterfaceSource<S extends WlInterfaceDescription = WlInterfaceDescription> {
  get(name: string): S | undefined;
}

const TYPE_CHARS: Readonly<Record<WlArgType, string>> = {
  int: 'i',
  uint: 'u',
  fixed: 'f',
  string: 's',
  object: 'o',
  new_id: 'n',
  array: 'a',
  fd: 'h',
};

/** libwayland accepts `?` only in front of these (wayland-scanner's rule). */
const NULLABLE_TYPES: ReadonlySet<WlArgType> = new Set<WlArgType>([
  'string',
  'object',
  'new_id',
  'array',
]);

/**
 * One `union wl_argument` slot as libwayland sees a message. Every ArgSpec is one slot,
 * except the untyped new_id of `wl_registry.bind`, which the wire (and libwayland's
 * signature) carries as three: interface name `s`, version `u`, then the id `n`.
 */
export interface ArgSlot {
  /** libwayland's type letter: i u f s o n a h. */
  readonly code: string;
  readonly arg: WlArgDescription;
  /** For the three slots of an untyped new_id: which part this slot is. */
  readonly part: 'value' | 'interface-name' | 'interface-version';
}

/** The slots of a message, in wire order (see {@link ArgSlot}). */
export function argSlots(message: WlMessageDescription): ArgSlot[] {
  const slots: ArgSlot[] = [];
  for (const arg of message.args) {
    if (arg.type === 'new_id' && arg.interface === undefined) {
      slots.push({ code: 's', arg, part: 'interface-name' });
      slots.push({ code: 'u', arg, part: 'interface-version' });
    }
    slots.push({ code: TYPE_CHARS[arg.type], arg, part: 'value' });
  }
  return slots;
}

/**
 * The libwayland signature string of a message: the `since` version when above 1, then
 * per argument `?` when nullable and its type letter, an untyped new_id spelled `sun`.
 * `wl_surface.attach` (since 1: ?object, int, int) → `?oii`; `wl_surface.offset`
 * (since 5) → `5ii`; `wl_registry.bind` → `usun`.
 */
export function messageSignature(message: WlMessageDescription): string {
  let signature = message.since > 1 ? String(message.since) : '';
  for (const arg of message.args) {
    if (arg.nullable === true && NULLABLE_TYPES.has(arg.type)) signature += '?';
    if (arg.type === 'new_id' && arg.interface === undefined) signature += 'su';
    signature += TYPE_CHARS[arg.type];
  }
  return signature;
}

// struct wl_message { const char *name; const char *signature; const wl_interface **types; }
const MESSAGE_SIZE = 24;
// struct wl_interface { const char *name; int version; int method_count;
//                       const wl_message *methods; int event_count; const wl_message *events; }
const INTERFACE_SIZE = 40;
const POINTER_SIZE = 8;

const utf8 = new TextEncoder();

// Every malloc made by the Wayland binding goes through these two, so a test can check
// that closing a client gives every block back (`nativeBlocksInUse() === 0`).
let blocksInUse = 0;

/** malloc, counted. The caller owns the block and must release it with freeBlock. */
export function allocBlock(size: number): NativePointer {
  const ptr = nativeAlloc(size);
  blocksInUse++;
  return ptr;
}

export function freeBlock(ptr: NativePointer): void {
  nativeFree(ptr);
  blocksInUse--;
}

/** Blocks allocated by the Wayland binding (tables, argument buffers) not yet freed. */
export function nativeBlocksInUse(): number {
  return blocksInUse;
}

/**
 * Native `struct wl_interface` tables, built on demand and cached by interface name.
 *
 * Ownership: every block belongs to this table and is freed by {@link dispose}; a
 * pointer handed out stays valid until then, and libwayland keeps such pointers in every
 * proxy it creates, so the owner (a WaylandClient) disposes the table only after
 * wl_display_disconnect. Each interface is one malloc block: the wl_interface, its
 * wl_message arrays, their types arrays, then the NUL-terminated strings.
 *
 * Cache rule: the first spec seen for a name is the one used for the table's lifetime;
 * a later, different spec of the same name gets the cached struct.
 */
export class NativeInterfaceTable<S extends WlInterfaceDescription = WlInterfaceDescription> {
  readonly #source: InterfaceSource<S>;
  readonly #byName = new Map<string, NativePointer>();
  readonly #specs = new Map<string, S>();
  #disposed = false;

  constructor(source: InterfaceSource<S>) {
    this.#source = source;
  }

  /** Number of native blocks currently owned (one per interface built). */
  get blockCount(): number {
    return this.#byName.size;
  }

  /** The struct for `spec`, building it (and every interface it references) if needed. */
  pointerOf(spec: S): NativePointer {
    const cached = this.#byName.get(spec.name);
    if (cached !== undefined) return cached;
    return this.#build(spec);
  }

  /** The struct for a named interface, or 0n when the source does not describe it. */
  pointerByName(name: string): NativePointer {
    const cached = this.#byName.get(name);
    if (cached !== undefined) return cached;
    const spec = this.#source.get(name);
    return spec === undefined ? 0n : this.#build(spec);
  }

  /** The spec behind a name: the cached one if built, else what the source says. */
  spec(name: string): S | undefined {
    return this.#specs.get(name) ?? this.#source.get(name);
  }

  /** Frees every block. Idempotent. Pointers handed out before are dangling afterwards. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const ptr of this.#byName.values()) freeBlock(ptr);
    this.#byName.clear();
    this.#specs.clear();
  }

  #build(spec: S): NativePointer {
    if (this.#disposed) throw new Error('NativeInterfaceTable used after dispose');
    const messages = [...spec.requests, ...spec.events];
    const slotLists = messages.map(argSlots);
    const strings: Uint8Array[] = [utf8.encode(`${spec.name}\0`)];
    for (const message of messages) {
      strings.push(utf8.encode(`${message.name}\0`), utf8.encode(`${messageSignature(message)}\0`));
    }
    const typesOffset = INTERFACE_SIZE + messages.length * MESSAGE_SIZE;
    const slotCount = slotLists.reduce((n, slots) => n + slots.length, 0);
    const stringsOffset = typesOffset + slotCount * POINTER_SIZE;
    const size = stringsOffset + strings.reduce((n, s) => n + s.length, 0);

    const base = allocBlock(size);
    // Registered before any reference is resolved, so cycles (wl_surface ↔ wl_callback…)
    // and self references find this block instead of recursing forever.
    this.#byName.set(spec.name, base);
    this.#specs.set(spec.name, spec);

    const bytes = nativeView(base, size);
    bytes.fill(0);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const setPointer = (offset: number, ptr: NativePointer): void =>
      view.setBigUint64(offset, ptr, true);

    let stringCursor = stringsOffset;
    const putString = (s: Uint8Array): NativePointer => {
      bytes.set(s, stringCursor);
      const ptr = base + BigInt(stringCursor);
      stringCursor += s.length;
      return ptr;
    };

    let stringIndex = 0;
    const nextString = (): Uint8Array => {
      const s = strings[stringIndex++];
      if (s === undefined) throw new Error('wl-interface: string table out of step');
      return s;
    };

    setPointer(0, putString(nextString()));
    view.setInt32(8, spec.version, true);
    view.setInt32(12, spec.requests.length, true);
    setPointer(16, spec.requests.length > 0 ? base + BigInt(INTERFACE_SIZE) : 0n);
    view.setInt32(24, spec.events.length, true);
    const eventsOffset = INTERFACE_SIZE + spec.requests.length * MESSAGE_SIZE;
    setPointer(32, spec.events.length > 0 ? base + BigInt(eventsOffset) : 0n);

    let typesCursor = typesOffset;
    messages.forEach((_message, index) => {
      const at = INTERFACE_SIZE + index * MESSAGE_SIZE;
      setPointer(at, putString(nextString()));
      setPointer(at + 8, putString(nextString()));
      const slots = slotLists[index] ?? [];
      // libwayland reads types[i] only for i < the signature's slot count, so a
      // message without arguments may carry NULL.
      setPointer(at + 16, slots.length > 0 ? base + BigInt(typesCursor) : 0n);
      for (const slot of slots) {
        const ref = slot.part === 'value' ? slot.arg.interface : undefined;
        // A referenced interface the source does not describe leaves NULL: libwayland
        // then skips its type check for that object argument.
        setPointer(typesCursor, ref === undefined ? 0n : this.pointerByName(ref));
        typesCursor += POINTER_SIZE;
      }
    });
    return base;
  }
}
