// Test support, not shipped API: a byte builder that mirrors the encoder's vocabulary
// (one method per wire type) but is written independently — DataView and Buffer instead
// of the encoder's hand-rolled writes — so tests can compare the two and use the builder
// to hand-craft malformed messages the encoder refuses to produce. Also the hand-copied
// MessageSpec literals the tests run on (no dependency on generated protocol tables).

import type { MessageSpec } from '../protocol/types.js';

export class MessageBuilder {
  private readonly chunks: Uint8Array[] = [];
  /** Fds of fd args, in order: they travel beside the bytes, not in them. */
  readonly fds: number[] = [];

  int(v: number): this {
    return this.word((dv) => dv.setInt32(0, v, true));
  }

  uint(v: number): this {
    return this.word((dv) => dv.setUint32(0, v, true));
  }

  /** `v` is the double value; the wire carries round(v × 256). */
  fixed(v: number): this {
    return this.int(Math.round(v * 256));
  }

  object(id: number): this {
    return this.uint(id);
  }

  newId(id: number): this {
    return this.uint(id);
  }

  /** The untyped new_id of wl_registry.bind: string, uint version, new_id. */
  untypedNewId(iface: string, version: number, id: number): this {
    return this.string(iface).uint(version).uint(id);
  }

  string(s: string | null): this {
    if (s === null) return this.uint(0);
    const utf8 = Buffer.from(s, 'utf8');
    return this.uint(utf8.length + 1).padded(Buffer.concat([utf8, Buffer.of(0)]));
  }

  array(bytes: Uint8Array): this {
    return this.uint(bytes.length).padded(bytes);
  }

  fd(fd: number): this {
    this.fds.push(fd);
    return this;
  }

  /** Raw bytes, unpadded: for malformed messages. */
  raw(bytes: ArrayLike<number>): this {
    this.chunks.push(Uint8Array.from(bytes));
    return this;
  }

  /** The body so far, without a header. */
  body(): Uint8Array {
    return Buffer.concat(this.chunks);
  }

  /** Header + body. `size` overrides the header's size field (malformed tests). */
  build(objectId: number, opcode: number, size?: number): Uint8Array {
    const body = this.body();
    const out = new Uint8Array(8 + body.length);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, objectId, true);
    dv.setUint32(4, (((size ?? out.length) << 16) | opcode) >>> 0, true);
    out.set(body, 8);
    return out;
  }

  private word(fill: (dv: DataView) => void): this {
    const w = new Uint8Array(4);
    fill(new DataView(w.buffer));
    this.chunks.push(w);
    return this;
  }

  private padded(bytes: Uint8Array): this {
    const out = new Uint8Array((bytes.length + 3) & ~3);
    out.set(bytes);
    this.chunks.push(out);
    return this;
  }
}

/** Concatenates messages into one stream, as they would arrive on a socket. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Hex dump with spaces, for golden comparisons: `01 00 00 00 …`. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');
}

/** Parses a golden hex string (spaces ignored) into bytes. */
export function fromHex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

// Shapes copied by hand from wayland.xml / xdg-shell.xml, as test data.
const msg = (name: string, args: MessageSpec['args'], destructor = false): MessageSpec => ({
  name,
  since: 1,
  destructor,
  args,
});

export const specs = {
  /** wl_display request 0. */
  sync: msg('sync', [{ name: 'callback', type: 'new_id', interface: 'wl_callback' }]),
  /** wl_display request 1. */
  getRegistry: msg('get_registry', [
    { name: 'registry', type: 'new_id', interface: 'wl_registry' },
  ]),
  /** wl_display event 0. */
  error: msg('error', [
    { name: 'object_id', type: 'object' },
    { name: 'code', type: 'uint' },
    { name: 'message', type: 'string' },
  ]),
  /** wl_registry event 0. */
  global: msg('global', [
    { name: 'name', type: 'uint' },
    { name: 'interface', type: 'string' },
    { name: 'version', type: 'uint' },
  ]),
  /** wl_registry request 0: the one untyped new_id. */
  bind: msg('bind', [
    { name: 'name', type: 'uint' },
    { name: 'id', type: 'new_id' },
  ]),
  /** wl_shm request 0. */
  createPool: msg('create_pool', [
    { name: 'id', type: 'new_id', interface: 'wl_shm_pool' },
    { name: 'fd', type: 'fd' },
    { name: 'size', type: 'int' },
  ]),
  /** wl_pointer event 2. */
  motion: msg('motion', [
    { name: 'time', type: 'uint' },
    { name: 'surface_x', type: 'fixed' },
    { name: 'surface_y', type: 'fixed' },
  ]),
  /** wl_keyboard event 1. */
  enter: msg('enter', [
    { name: 'serial', type: 'uint' },
    { name: 'surface', type: 'object', interface: 'wl_surface' },
    { name: 'keys', type: 'array' },
  ]),
  /** wl_surface request 1 (nullable buffer). */
  attach: msg('attach', [
    { name: 'buffer', type: 'object', interface: 'wl_buffer', nullable: true },
    { name: 'x', type: 'int' },
    { name: 'y', type: 'int' },
  ]),
  /** wl_data_offer request 0 (nullable string). */
  accept: msg('accept', [
    { name: 'serial', type: 'uint' },
    { name: 'mime_type', type: 'string', nullable: true },
  ]),
  /** Not a real message: two fds, to test partial fd arrival. */
  twoFds: msg('two_fds', [
    { name: 'a', type: 'fd' },
    { name: 'n', type: 'uint' },
    { name: 'b', type: 'fd' },
  ]),
  /** wl_buffer request 0. */
  destroy: msg('destroy', [], true),
} satisfies Record<string, MessageSpec>;
