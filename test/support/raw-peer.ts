// A Wayland endpoint that speaks raw bytes through the project's own codec: a scripted
// client that can send anything (including garbage), or a fake compositor. The relay
// tests run both ends in-process over real unix sockets, so every byte and fd really
// crosses the kernel.

import { ProtocolRegistry } from '../../bridge/protocol/registry.js';
import type { InterfaceSpec, MessageSpec } from '../../bridge/protocol/types.js';
import { decodeArgs } from '../../bridge/wire/decode.js';
import { encodeMessage } from '../../bridge/wire/encode.js';
import { FdQueue } from '../../bridge/wire/fd-queue.js';
import { FrameReader } from '../../bridge/wire/frame-reader.js';
import type { ArgValue } from '../../bridge/wire/values.js';
import { type FdWatch, watchFd } from '../../ffi/fd-watch.js';
import { close as closeFd, connectUnix } from '../../ffi/libc.js';
import { UnixChannel } from '../../ffi/unix-channel.js';

export const registry = new ProtocolRegistry();

export function iface(name: string): InterfaceSpec {
  const spec = registry.get(name);
  if (spec === undefined) throw new Error(`no interface ${name}`);
  return spec;
}

export function request(
  interfaceName: string,
  name: string,
): { opcode: number; spec: MessageSpec } {
  const all = iface(interfaceName).requests;
  const opcode = all.findIndex((m) => m.name === name);
  if (opcode < 0) throw new Error(`no request ${interfaceName}.${name}`);
  return { opcode, spec: all[opcode]! };
}

export function event(interfaceName: string, name: string): { opcode: number; spec: MessageSpec } {
  const all = iface(interfaceName).events;
  const opcode = all.findIndex((m) => m.name === name);
  if (opcode < 0) throw new Error(`no event ${interfaceName}.${name}`);
  return { opcode, spec: all[opcode]! };
}

export interface ReceivedMessage {
  readonly objectId: number;
  readonly opcode: number;
  /** The whole message, copied. */
  readonly bytes: Uint8Array;
}

export class RawPeer {
  readonly received: ReceivedMessage[] = [];
  readonly fds = new FdQueue();
  eof = false;
  /** Called with each message as it is read, before `until` waiters wake (optional). */
  onMessage: ((m: ReceivedMessage) => void) | undefined;
  private readonly reader = new FrameReader();
  private readonly channel: UnixChannel;
  private readonly watch: FdWatch;
  private waiters: (() => void)[] = [];
  private reading = true;

  constructor(fd: number) {
    this.channel = new UnixChannel(fd);
    this.watch = watchFd(fd, () => this.onReadable());
  }

  static connect(path: string): RawPeer {
    return new RawPeer(connectUnix(path));
  }

  /** Stop/resume reading the socket (to build back-pressure). */
  setReading(reading: boolean): void {
    this.reading = reading;
    this.watch.setInterest(reading, false);
  }

  private onReadable(): void {
    if (!this.reading || this.eof) return;
    for (;;) {
      const fds: number[] = [];
      const got = this.channel.recv(0, this.channel.rx.length, fds);
      this.fds.push(fds);
      if (got === 'again') break;
      if (got === 'eof') {
        this.eof = true;
        this.watch.close();
        break;
      }
      this.reader.push(this.channel.rx.subarray(0, got));
      for (let f = this.reader.next(); f !== undefined; f = this.reader.next()) {
        const m = { objectId: f.objectId, opcode: f.opcode, bytes: f.bytes.slice() };
        this.received.push(m);
        this.onMessage?.(m);
      }
      if (!this.channel.isOpen) break; // onMessage closed this peer
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Sends raw bytes (possibly garbage), with fds attached to the first byte. */
  sendBytes(bytes: Uint8Array, fds: number[] = []): void {
    let off = 0;
    let first = true;
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, this.channel.tx.length);
      this.channel.tx.set(bytes.subarray(off, off + n), 0);
      const sent = this.channel.send(0, n, first ? fds : []);
      if (sent === 'again') throw new Error('peer socket full');
      first = false;
      off += sent;
    }
  }

  /** Like sendBytes, but waits (yielding to the event loop) while the socket is full. */
  async sendBytesPatiently(bytes: Uint8Array, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(bytes.length - off, this.channel.tx.length);
      this.channel.tx.set(bytes.subarray(off, off + n), 0);
      const sent = this.channel.send(0, n);
      if (sent === 'again') {
        if (Date.now() > deadline) throw new Error('peer socket stayed full');
        await new Promise((resolve) => setTimeout(resolve, 2));
        continue;
      }
      off += sent;
    }
  }

  /** shutdown(SHUT_WR): the other end reads EOF, and this peer goes on reading. */
  shutdownWrite(): void {
    this.channel.shutdownWrite();
  }

  send(objectId: number, msg: { opcode: number; spec: MessageSpec }, args: ArgValue[]): void {
    const { bytes, fds } = encodeMessage(objectId, msg.opcode, msg.spec, args);
    this.sendBytes(bytes, fds);
  }

  decode(m: ReceivedMessage, spec: MessageSpec): ArgValue[] {
    return decodeArgs(spec, m.bytes, 0, m.bytes.length, this.fds);
  }

  /** Resolves once `predicate` holds (checked after every read), or rejects on timeout. */
  async until(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 20);
      });
    }
  }

  close(): void {
    this.watch.close();
    for (const fd of this.fds.drain()) closeFd(fd);
    if (this.channel.isOpen) this.channel.close();
  }
}
