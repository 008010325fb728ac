// A minimal Wayland client for benchmarks: raw bytes through the project's codec and
// blocking syscalls, so what is measured is the path to the compositor and back, not
// Node's event loop or a client library. One instance per connection.

import { connectUnix, waitFd } from '../../ffi/libc.js';
import { UnixChannel } from '../../ffi/unix-channel.js';
import type { ProtocolRegistry } from '../../bridge/protocol/registry.js';
import type { MessageSpec } from '../../bridge/protocol/types.js';
import { decodeArgs } from '../../bridge/wire/decode.js';
import { encodeMessage } from '../../bridge/wire/encode.js';
import { FdQueue } from '../../bridge/wire/fd-queue.js';
import { type Frame, FrameReader } from '../../bridge/wire/frame-reader.js';
import { readU32 } from '../../bridge/wire/le.js';

export class BlockingClient {
  private readonly channel: UnixChannel;
  private readonly reader = new FrameReader();
  private readonly fds = new FdQueue();
  private nextId = 2;

  constructor(
    path: string,
    private readonly registry: ProtocolRegistry,
  ) {
    this.channel = new UnixChannel(connectUnix(path), 64 * 1024, 1024 * 1024);
  }

  allocateId(): number {
    return this.nextId++;
  }

  message(
    iface: string,
    name: string,
    kind: 'requests' | 'events',
  ): { opcode: number; spec: MessageSpec } {
    const all = this.registry.get(iface)?.[kind] ?? [];
    const opcode = all.findIndex((m) => m.name === name);
    if (opcode < 0) throw new Error(`no ${kind} ${iface}.${name}`);
    return { opcode, spec: all[opcode]! };
  }

  /** Writes bytes, blocking while the socket is full; `fds` go with the first byte. */
  write(bytes: Uint8Array, fds: readonly number[] = []): void {
    let off = 0;
    let pendingFds = fds;
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, this.channel.tx.length);
      this.channel.tx.set(bytes.subarray(off, off + n), 0);
      let sentNow = 0;
      while (sentNow < n) {
        const sent = this.channel.send(sentNow, n - sentNow, pendingFds);
        if (sent === 'again') {
          this.readAvailable(); // keep the compositor's replies from blocking it
          waitFd(this.channel.fd, false, true, 10_000);
          continue;
        }
        pendingFds = [];
        sentNow += sent;
      }
      off += n;
    }
  }

  request(
    objectId: number,
    iface: string,
    name: string,
    args: Parameters<typeof encodeMessage>[3],
    fds: readonly number[] = [],
  ): void {
    this.write(this.encode(objectId, iface, name, args), fds);
  }

  /** One request's bytes (fd arguments take no bytes: pass the fds to write()). */
  encode(
    objectId: number,
    iface: string,
    name: string,
    args: Parameters<typeof encodeMessage>[3],
  ): Uint8Array {
    const { opcode, spec } = this.message(iface, name, 'requests');
    return encodeMessage(objectId, opcode, spec, args).bytes;
  }

  /** Takes what has arrived without blocking; true once a message matching `match` came. */
  poll(match: (f: Frame) => boolean): boolean {
    if (waitFd(this.channel.fd, true, false, 0)) this.readAvailable();
    let found = false;
    for (let f = this.reader.next(); f !== undefined; f = this.reader.next()) {
      if (match(f)) found = true;
    }
    return found;
  }

  private readAvailable(): void {
    for (;;) {
      const fds: number[] = [];
      const got = this.channel.recv(0, this.channel.rx.length, fds);
      this.fds.push(fds);
      if (got === 'again') return;
      if (got === 'eof') throw new Error('compositor closed the connection');
      this.reader.push(this.channel.rx.subarray(0, got));
      if (got < this.channel.rx.length) return;
    }
  }

  /** Blocks until a message matching `match` arrives; earlier messages go to `onOther`. */
  waitFor(match: (f: Frame) => boolean, onOther?: (f: Frame) => void, timeoutMs = 10_000): Frame {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let f = this.reader.next(); f !== undefined; f = this.reader.next()) {
        if (match(f)) return f;
        onOther?.(f);
      }
      const left = deadline - Date.now();
      if (left <= 0 || !waitFd(this.channel.fd, true, false, left)) throw new Error('timed out');
      this.readAvailable();
    }
  }

  decode(frame: Frame, spec: MessageSpec): ReturnType<typeof decodeArgs> {
    return decodeArgs(spec, frame.bytes, 0, frame.size, this.fds);
  }

  /** wl_display.sync with a fixed id, waiting for its done and the id's delete_id. */
  roundtrip(callbackId: number): void {
    this.request(1, 'wl_display', 'sync', [callbackId]);
    // delete_id(callbackId) follows the done event; only then may the id be reused.
    this.waitFor(
      (f) =>
        f.objectId === 1 && f.opcode === 1 && f.size === 12 && readU32(f.bytes, 8) === callbackId,
    );
  }

  /** Binds every advertised global named in `wanted`; returns interface → object id. */
  bindGlobals(wanted: Record<string, number>): Map<string, number> {
    const registryId = this.allocateId();
    this.request(1, 'wl_display', 'get_registry', [registryId]);
    const syncId = this.allocateId();
    this.request(1, 'wl_display', 'sync', [syncId]);
    const global = this.message('wl_registry', 'global', 'events');
    const found = new Map<string, { name: number; version: number }>();
    this.waitFor(
      (f) => f.objectId === syncId,
      (f) => {
        if (f.objectId !== registryId || f.opcode !== global.opcode) return;
        const [name, iface, version] = this.decode(f, global.spec) as [number, string, number];
        found.set(iface, { name, version });
      },
    );
    const bound = new Map<string, number>();
    for (const [iface, version] of Object.entries(wanted)) {
      const g = found.get(iface);
      if (g === undefined) throw new Error(`compositor has no ${iface}`);
      const id = this.allocateId();
      this.request(registryId, 'wl_registry', 'bind', [
        g.name,
        { interface: iface, version: Math.min(version, g.version), id },
      ]);
      bound.set(iface, id);
    }
    return bound;
  }

  close(): void {
    this.channel.close();
  }
}
