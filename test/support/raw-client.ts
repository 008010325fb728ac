// A Wayland client written in raw bytes, for tests that do what libwayland-client never
// would (truncated pools, fd floods, floods of requests after an error): it connects,
// reads the globals, binds wl_shm and wl_compositor, and then sends anything. Works
// against any compositor that answers wl_display.sync, through the bridge or not.

import { isPeerGone } from '../../ffi/unix-channel.js';
import type { MessageSpec } from '../../bridge/protocol/types.js';
import { encodeMessage } from '../../bridge/wire/encode.js';
import type { ArgValue } from '../../bridge/wire/values.js';
import { RawPeer, event, request } from './raw-peer.js';

const sync = request('wl_display', 'sync');
const createPool = request('wl_shm', 'create_pool');
const createBuffer = request('wl_shm_pool', 'create_buffer');
const createSurface = request('wl_compositor', 'create_surface');
const attach = request('wl_surface', 'attach');
const damage = request('wl_surface', 'damage');
const commit = request('wl_surface', 'commit');
const getRegistry = request('wl_display', 'get_registry');
const bind = request('wl_registry', 'bind');
const global = event('wl_registry', 'global');
const displayError = event('wl_display', 'error');

export type Message = { opcode: number; spec: MessageSpec };

/**
 * A client written in raw bytes, so it can do what libwayland-client never would. Ids
 * are handed out one past the highest so far, which the relay always accepts.
 */
export class RawClient {
  /** 2 is the registry, 3 the sync that fetched the globals. */
  private nextId = 4;
  readonly shm: number;
  readonly compositor: number;

  private constructor(
    readonly peer: RawPeer,
    /** Each global the compositor announced: interface → name. */
    readonly globals: Map<string, number>,
  ) {
    this.shm = this.newId();
    this.compositor = this.newId();
    peer.send(2, bind, [globals.get('wl_shm')!, { interface: 'wl_shm', version: 1, id: this.shm }]);
    peer.send(2, bind, [
      globals.get('wl_compositor')!,
      { interface: 'wl_compositor', version: 4, id: this.compositor },
    ]);
  }

  /** Connects, reads the globals, binds wl_shm and wl_compositor. */
  static async open(path: string): Promise<RawClient> {
    const peer = RawPeer.connect(path);
    peer.send(1, getRegistry, [2]);
    const done = 3;
    peer.send(1, sync, [done]);
    await peer.until(() => peer.received.some((m) => m.objectId === done), 5000, 'globals');
    const globals = new Map<string, number>();
    for (const m of peer.received) {
      if (m.objectId !== 2 || m.opcode !== global.opcode) continue;
      const [name, iface] = peer.decode(m, global.spec) as [number, string];
      globals.set(iface, name);
    }
    return new RawClient(peer, globals);
  }

  newId(): number {
    return this.nextId++;
  }

  /**
   * A pool of `poolSize` bytes on `fd`, one width×height ARGB8888 buffer at its start,
   * attached to a fresh surface, damaged whole and committed (no roundtrip).
   */
  showBuffer(
    fd: number,
    poolSize: number,
    width: number,
    height: number,
  ): { pool: number; buffer: number; surface: number } {
    const pool = this.newId();
    const buffer = this.newId();
    const surface = this.newId();
    this.send(this.shm, createPool, [pool, fd, poolSize]);
    this.send(pool, createBuffer, [buffer, 0, width, height, width * 4, 0]);
    this.send(this.compositor, createSurface, [surface]);
    this.send(surface, attach, [buffer, 0, 0]);
    this.send(surface, damage, [0, 0, width, height]);
    this.send(surface, commit, []);
    return { pool, buffer, surface };
  }

  send(objectId: number, msg: Message, args: ArgValue[]): void {
    this.peer.send(objectId, msg, args);
  }

  /** Many messages in one go (without fds), waiting while the socket is full. */
  async flood(messages: [objectId: number, msg: Message, args: ArgValue[]][]): Promise<void> {
    await this.peer.sendBytesPatiently(encodeAll(messages));
  }

  /**
   * One message with its fds, waiting while the socket is full; false once the bridge
   * has hung up.
   */
  async sendPatiently(objectId: number, msg: Message, args: ArgValue[]): Promise<boolean> {
    for (;;) {
      try {
        this.send(objectId, msg, args);
        return true;
      } catch (err) {
        // 16-byte messages go whole or not at all: 'full' means nothing was sent.
        if (!(err instanceof Error) || err.message !== 'peer socket full') return false;
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
  }

  /** wl_display.sync and its done: the round-trip time, or the error that ended the client. */
  async roundtrip(timeoutMs = 10_000): Promise<number> {
    const id = this.newId();
    const from = this.peer.received.length;
    const t0 = performance.now();
    this.send(1, sync, [id]);
    await this.peer.until(
      () => this.peer.eof || this.peer.received.slice(from).some((m) => m.objectId === id),
      timeoutMs,
      'roundtrip',
    );
    if (this.peer.eof) throw new Error(`disconnected: ${JSON.stringify(this.error())}`);
    return performance.now() - t0;
  }

  /** Waits until the bridge hangs up on this client. */
  async disconnected(timeoutMs = 10_000): Promise<void> {
    await this.peer.until(() => this.peer.eof, timeoutMs, 'disconnect');
  }

  /** The wl_display.error this client got, if any. */
  error(): { objectId: number; code: number; message: string } | undefined {
    const m = this.peer.received.find((r) => r.objectId === 1 && r.opcode === displayError.opcode);
    if (m === undefined) return undefined;
    const [objectId, code, message] = this.peer.decode(m, displayError.spec) as [
      number,
      number,
      string,
    ];
    return { objectId, code, message };
  }
}

/** The bytes of many messages, in order (fds are not carried). */
export function encodeAll(
  messages: [objectId: number, msg: Message, args: ArgValue[]][],
): Uint8Array {
  const parts = messages.map(([id, msg, args]) => encodeMessage(id, msg.opcode, msg.spec, args));
  return Buffer.concat(parts.map((p) => p.bytes));
}

export type Outcome = { served: RawPeer } | { refused: string } | { hungUp: true };

/**
 * Connects and asks for one roundtrip: served, refused (with the error's message), or
 * hung up. A server that refuses a client writes its error and closes at once, so the
 * sync may meet EPIPE: like libwayland-client, the client then still reads the error.
 */
export async function roundtripOrRefusal(path: string): Promise<Outcome> {
  const peer = RawPeer.connect(path);
  try {
    peer.send(1, sync, [2]);
  } catch (err) {
    if (!isPeerGone(err)) throw err;
  }
  await peer.until(() => peer.eof || peer.received.some((m) => m.objectId === 2), 10_000);
  if (!peer.eof) return { served: peer };
  const error = peer.received.find((m) => m.objectId === 1 && m.opcode === displayError.opcode);
  const message =
    error === undefined ? undefined : (peer.decode(error, displayError.spec)[2] as string);
  peer.close();
  return message === undefined ? { hungUp: true } : { refused: message };
}
