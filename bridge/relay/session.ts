// One client and its own upstream connection to the compositor. Messages flow through
// unchanged and in order; the session decodes only what it must understand (see
// message-table.ts) to keep the object map exact, to carry fds, and to hide globals it
// has no protocol for. A client that breaks the protocol, or exceeds one of its limits
// (limits.ts), gets wl_display.error and is disconnected; nothing it does reaches
// another session.

import type { Logger } from 'pino';
import { type FdWatch, watchFd } from '../../ffi/fd-watch.js';
import { close as closeFd } from '../../ffi/libc.js';
import { FdOverflowError, isPeerGone, type UnixChannel } from '../../ffi/unix-channel.js';
import { HiddenGlobalReporter } from '../protocol/hidden-globals.js';
import { MAX_MESSAGE_SIZE } from '../wire/constants.js';
import { decodeArgs, decodeFixedArgs } from '../wire/decode.js';
import { encodeMessage } from '../wire/encode.js';
import { WireError } from '../wire/errors.js';
import { formatMessage } from '../wire/format.js';
import { readObjectId, readOpcode, readSize } from '../wire/header.js';
import { readU32 } from '../wire/le.js';
import type { ArgValue, UntypedNewId } from '../wire/values.js';
import {
  ClientLimitError,
  ClientProtocolError,
  DisplayErrorCode,
  UpstreamProtocolError,
} from './errors.js';
import type { ClientLimits } from './limits.js';
import {
  type InterfaceTable,
  MessageFlags,
  type MessageMeta,
  type MessageTables,
} from './message-table.js';
import { ObjectMap, type WaylandObject } from './object-map.js';
import type { SessionObserver } from './observer.js';
import { Pipe } from './pipe.js';

/** Receives one line per message when --trace is on. */
export type TraceSink = (line: string) => void;

export interface SessionOptions {
  readonly id: number;
  readonly tables: MessageTables;
  readonly log: Logger;
  /** This client's limits; its channels' buffers were sized from them (channelCapacities). */
  readonly limits: ClientLimits;
  readonly trace?: TraceSink;
  /** Sees the messages its factory asked for (see observer.ts). */
  readonly observer?: SessionObserver;
  readonly onClosed: (session: Session) => void;
}

/** A global the compositor announced and the bridge let through. */
interface AdvertisedGlobal {
  readonly interfaceName: string;
  /** Version as told to the client: min(compositor's, protocol table's). */
  readonly version: number;
}

/** Which way a pipe carries messages. */
const Direction = { requests: 0, events: 1 } as const;
type Direction = (typeof Direction)[keyof typeof Direction];

/** Reads per wake-up before yielding to other sessions' events. */
const MAX_READS_PER_WAKE = 16;

export class Session {
  readonly id: number;
  readonly objects: ObjectMap;
  private readonly requests: Pipe;
  private readonly events: Pipe;
  private readonly clientWatch: FdWatch;
  private readonly upstreamWatch: FdWatch;
  private readonly globals = new Map<number, AdvertisedGlobal>();
  private readonly hiddenGlobals = new Set<number>();
  private readonly hiddenGlobalReporter: HiddenGlobalReporter;
  private closed = false;
  /** Set once a wl_display.error has gone by: the session ends after the flush. */
  private closing = false;
  /** Armed while the client leaves its output full (see watchStall); else undefined. */
  private stallTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: UnixChannel,
    private readonly upstream: UnixChannel,
    private readonly options: SessionOptions,
  ) {
    this.id = options.id;
    this.hiddenGlobalReporter = new HiddenGlobalReporter(options.log, options.id);
    this.objects = new ObjectMap(options.tables.display());
    this.requests = new Pipe(client, upstream);
    this.events = new Pipe(upstream, client);
    this.clientWatch = watchFd(client.fd, (ready) => {
      if (ready.writable) this.guard(() => this.flush(this.events));
      if (ready.readable || ready.hangup)
        this.guard(() => this.pump(this.requests, Direction.requests));
    });
    this.upstreamWatch = watchFd(upstream.fd, (ready) => {
      if (ready.writable) this.guard(() => this.flush(this.requests));
      if (ready.readable || ready.hangup)
        this.guard(() => this.pump(this.events, Direction.events));
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Counters for stats and tests; `buffered` and `fds` are what the limits bound. */
  stats(): { requests: number; events: number; objects: number; buffered: number; fds: number } {
    return {
      requests: this.requests.messages,
      events: this.events.messages,
      objects: this.objects.size,
      buffered: this.requests.bufferedBytes + this.events.bufferedBytes,
      fds: this.fdsHeld(),
    };
  }

  /** Ends the session from outside (bridge shutdown): both sockets close. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.options.log.debug({ session: this.id, reason }, 'session closed');
    clearTimeout(this.stallTimer);
    this.clientWatch.close();
    this.upstreamWatch.close();
    this.requests.closeFds();
    this.events.closeFds();
    this.client.close();
    this.upstream.close();
    try {
      this.options.observer?.onClosed(performance.now());
    } catch (err) {
      this.options.log.error({ session: this.id, err }, 'observer failed on close');
    }
    this.options.onClosed(this);
  }

  /** Every callback from the event loop goes through here: nothing escapes a session. */
  private guard(work: () => void): void {
    if (this.closed) return;
    try {
      work();
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    if (err instanceof ClientLimitError) {
      // Operators need to know which limit cut a client off, to tell an attack from a
      // limit set too low for a real client.
      this.options.log.warn(
        { session: this.id, limit: err.limit, value: err.value },
        `client limit hit: ${err.message}`,
      );
      this.deliverValidRequests();
      this.sendDisplayError(err.objectId, err.displayCode, err.message);
      this.close(`client limit ${err.limit}`);
    } else if (err instanceof ClientProtocolError) {
      this.options.log.warn(
        { session: this.id, code: err.displayCode, object: err.objectId },
        `client protocol error: ${err.message}`,
      );
      this.deliverValidRequests();
      this.sendDisplayError(err.objectId, err.displayCode, err.message);
      this.close('client protocol error');
    } else if (err instanceof UpstreamProtocolError) {
      this.options.log.error({ session: this.id }, `compositor protocol error: ${err.message}`);
      this.sendDisplayError(1, DisplayErrorCode.implementation, `grantway: ${err.message}`);
      this.close('upstream protocol error');
    } else if (isPeerGone(err)) {
      this.close('peer gone');
    } else if (err instanceof FdOverflowError) {
      this.sendDisplayError(1, DisplayErrorCode.implementation, err.message);
      this.close('fd overflow');
    } else {
      this.options.log.error({ session: this.id, err }, 'session failed');
      this.sendDisplayError(1, DisplayErrorCode.implementation, 'grantway: internal error');
      this.close('internal error');
    }
  }

  /**
   * Before a client is cut off, the requests it sent before the offending one go to the
   * compositor, which would have dispatched them without the bridge. Best effort: one
   * flush, nothing more if the compositor's socket is full.
   */
  private deliverValidRequests(): void {
    try {
      this.requests.flush();
    } catch (err) {
      if (!isPeerGone(err))
        this.options.log.debug({ err }, 'could not deliver requests before an error');
    }
  }

  /** Best effort, like libwayland-server: queue the error after pending events, flush once. */
  private sendDisplayError(objectId: number, code: number, message: string): void {
    const spec = this.options.tables.display().events[0]?.spec;
    if (spec === undefined || !this.client.isOpen) return;
    try {
      const { bytes } = encodeMessage(1, 0, spec, [objectId, code, message.slice(0, 3000)]);
      if (this.events.write(bytes)) this.events.flush();
    } catch (err) {
      if (!isPeerGone(err)) this.options.log.debug({ err }, 'could not deliver wl_display.error');
    }
  }

  /** Reads and relays what src has, until it has no more or dst is full. */
  private pump(pipe: Pipe, direction: Direction): void {
    for (let i = 0; i < MAX_READS_PER_WAKE && !this.closed; i++) {
      pipe.compactRx();
      // Never read more than the destination can take: handled input is copied to
      // dst.tx, so bounding reads by its room is the whole back-pressure mechanism.
      const pending = pipe.rxEnd - pipe.rxStart;
      const room = pipe.txRoomCompacting(pending + MAX_MESSAGE_SIZE) - pending;
      const want = Math.min(pipe.src.rx.length - pipe.rxEnd, room);
      if (want <= 0) {
        this.pause(pipe, true);
        break;
      }
      const fds: number[] = [];
      const got = pipe.src.recv(pipe.rxEnd, want, fds);
      if (fds.length > 0) {
        pipe.inFds.push(fds); // owned by the queue from here, even if the check throws
        if (direction === Direction.requests) this.checkFdLimit();
      }
      if (got === 'again') break;
      if (got === 'eof') {
        this.flush(pipe);
        this.close(
          direction === Direction.requests ? 'client disconnected' : 'compositor disconnected',
        );
        return;
      }
      pipe.rxEnd += got;
      this.handleInput(pipe, direction);
      if (this.closed) return;
      if (this.flush(pipe) === 'blocked') break;
      if (got < want) break;
    }
    if (this.closing) this.close('wl_display.error delivered');
  }

  private pause(pipe: Pipe, paused: boolean): void {
    pipe.paused = paused;
    if (paused && pipe === this.events) this.watchStall();
    this.updateInterest();
  }

  /**
   * The client is not reading: its output buffer is full, so the session has stopped
   * reading its upstream socket. Nothing grows in the bridge (its buffers have fixed
   * sizes); the compositor's events for this client wait in the upstream socket, then
   * in the compositor's own buffer for this connection. libwayland-server (up to 1.22)
   * disconnects a connection once its 4 KiB output buffer overflows, as it would the
   * client without the bridge; the embedded compositor does past 4 MiB. Each client has
   * its own upstream connection, so the compositor never blocks on this one and no
   * other client waits.
   *
   * Unless stallTimeoutMs is 0, a client that takes not one byte for that long is
   * disconnected, which gives back its compositor connection and grant extents. The
   * check runs when the timer fires: progress since it was armed arms it again, so the
   * client is cut off after between 1× and 2× stallTimeoutMs without progress.
   */
  private watchStall(): void {
    const timeout = this.options.limits.stallTimeoutMs;
    if (timeout === 0 || this.stallTimer !== undefined || this.closed) return;
    const sentWhenArmed = this.events.bytes;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      if (this.closed || !this.events.paused) return;
      if (this.events.bytes !== sentWhenArmed) {
        this.watchStall();
        return;
      }
      const waiting = this.events.bufferedBytes;
      this.guard(() => {
        throw new ClientLimitError(
          'stallTimeoutMs',
          timeout,
          `client read nothing while ${waiting} bytes waited for it`,
        );
      });
    }, timeout);
    this.stallTimer.unref();
  }

  /** Fds held for this client: queued in either direction, plus the observer's dups. */
  private fdsHeld(): number {
    return this.requests.fdsHeld + this.events.fdsHeld + (this.options.observer?.heldFds?.() ?? 0);
  }

  /**
   * Runs when fds arrive from the client. Each fd it sends is either queued here or,
   * once its message is handled, forwarded (and closed) or kept by the observer as its
   * pool dup, so checking on arrival bounds them all. One recvmsg brings at most 253 fds:
   * the bridge holds at most maxFds + 252 at the moment it disconnects the client.
   */
  private checkFdLimit(): void {
    const held = this.fdsHeld();
    const max = this.options.limits.maxFds;
    if (held > max)
      throw new ClientLimitError('maxFds', max, `client made the bridge hold ${held} fds`);
  }

  /**
   * A client-made object, counted against maxObjects. It is validated (and made) first,
   * so a bad id gets its own protocol error; a limit error ends the session, so the
   * object just made never matters. Client ids must be dense (object-map.ts), so bounding
   * the id also bounds the id table, ids awaiting delete_id included.
   */
  private createClientObject(id: number, table: InterfaceTable, version: number): void {
    this.objects.createFromClient(id, table, version);
    const max = this.options.limits.maxObjects;
    if (id > max || this.objects.size > max) {
      throw new ClientLimitError(
        'maxObjects',
        max,
        `client created ${table.name}@${id} (${this.objects.size} objects live)`,
      );
    }
  }

  private updateInterest(): void {
    if (this.closed) return;
    this.clientWatch.setInterest(!this.requests.paused, this.events.pendingOutput);
    this.upstreamWatch.setInterest(!this.events.paused, this.requests.pendingOutput);
  }

  private flush(pipe: Pipe): 'done' | 'blocked' {
    const result = pipe.flush();
    if (result === 'done' && pipe.paused) {
      pipe.paused = false;
      // Input may be waiting in the socket: the level-triggered watch will report it.
    }
    this.updateInterest();
    return result;
  }

  /**
   * Walks the complete messages in pipe's input. Plain messages are forwarded as one
   * run of bytes; a message that needs decoding ends the run, is handled, and starts
   * the next. Stops at a partial message, or at one whose fds have not arrived yet.
   */
  private handleInput(pipe: Pipe, direction: Direction): void {
    const rx = pipe.src.rx;
    const fromClient = direction === Direction.requests;
    const traceAll = this.options.trace !== undefined;
    let pos = pipe.rxStart;
    let runStart = pos;
    const end = pipe.rxEnd;
    try {
      while (end - pos >= 8) {
        const size = readSize(rx, pos);
        if (size < 8 || (size & 3) !== 0 || size > MAX_MESSAGE_SIZE) {
          this.malformed(fromClient, readObjectId(rx, pos), `bad message size ${size}`);
        }
        if (end - pos < size) break;
        const objectId = readObjectId(rx, pos);
        const opcode = readOpcode(rx, pos);
        const obj = this.objects.lookup(objectId);
        if (obj === undefined) this.unknownObject(fromClient, objectId);
        const meta = fromClient ? obj.table.requests[opcode] : obj.table.events[opcode];
        if (meta === undefined) this.unknownOpcode(fromClient, obj, opcode);
        if (fromClient && meta.since > obj.version) {
          throw new ClientProtocolError(
            objectId,
            DisplayErrorCode.invalidMethod,
            `invalid method ${opcode} (since ${meta.since} > version ${obj.version}) on ${obj.table.name}@${objectId}`,
          );
        }
        if (meta.flags === MessageFlags.None && !traceAll) {
          pos += size;
          pipe.messages++;
          continue;
        }
        if (meta.fdCount > pipe.inFds.length) this.missingFds(fromClient, obj, meta);
        pipe.forward(runStart, pos);
        // The run is out: if this message is rejected, the finally must not send it again.
        runStart = pos;
        this.handleMessage(pipe, fromClient, obj, meta, pos, size);
        pos += size;
        runStart = pos;
        pipe.messages++;
      }
    } finally {
      // Everything before the failing (or partial) message was valid: pass it on.
      pipe.forward(runStart, pos);
      pipe.rxStart = pos;
    }
  }

  private handleMessage(
    pipe: Pipe,
    fromClient: boolean,
    obj: WaylandObject,
    meta: MessageMeta,
    pos: number,
    size: number,
  ): void {
    const rx = pipe.src.rx;
    if (this.handleFixedMessage(pipe, fromClient, obj, meta, pos, size)) return;
    let args: ArgValue[];
    try {
      args = decodeArgs(meta.spec, rx, pos, size, pipe.inFds);
    } catch (err) {
      if (err instanceof WireError) {
        for (const fd of err.fds ?? []) closeFd(fd);
        const what = `${obj.table.name}@${obj.id}.${meta.spec.name}`;
        if (fromClient) {
          throw new ClientProtocolError(
            obj.id,
            DisplayErrorCode.invalidMethod,
            `invalid arguments for ${what}: ${err.message}`,
          );
        }
        throw new UpstreamProtocolError(`invalid arguments for ${what}: ${err.message}`);
      }
      throw err;
    }
    let fds = meta.fdCount > 0 ? collectFds(meta, args) : NO_FDS;
    let replacement: Uint8Array | 'drop' | undefined;
    // Until attachFds hands them to the pipe, the message's fds are ours: a rejected
    // message must not leak them.
    try {
      if ((meta.flags & MessageFlags.Special) !== 0) {
        replacement = fromClient
          ? this.handleSpecialRequest(obj, meta, args)
          : this.handleSpecialEvent(obj, meta, args);
      } else if ((meta.flags & MessageFlags.NewId) !== 0) {
        this.createObjects(fromClient, obj, meta, args);
      }
      if (this.options.trace !== undefined) {
        this.traceMessage(fromClient, obj, meta, args, replacement);
      }
      if (replacement === 'drop') {
        for (const fd of fds) closeFd(fd);
        return;
      }
      if ((meta.flags & MessageFlags.Observed) !== 0 && this.options.observer !== undefined) {
        const rewrite = this.options.observer.onMessage({
          fromClient,
          object: obj,
          name: meta.spec.name,
          args,
          time: performance.now(),
        });
        // The observer now owns the original fds; the replacements are ours to send.
        if (rewrite?.fds !== undefined) fds = rewrite.fds;
      }
    } catch (err) {
      for (const fd of fds) closeFd(fd);
      throw err;
    }
    if ((meta.flags & MessageFlags.Destructor) !== 0) this.objects.markDestroyed(obj);
    pipe.attachFds(fds);
    if (replacement !== undefined) pipe.write(replacement);
    else pipe.forward(pos, pos + size);
  }

  /** One WAYLAND_DEBUG-like line; says so when the bridge dropped or rewrote the message. */
  private traceMessage(
    fromClient: boolean,
    obj: WaylandObject,
    meta: MessageMeta,
    args: ArgValue[],
    replacement: Uint8Array | 'drop' | undefined,
  ): void {
    const lookup = (id: number): string | undefined => this.objects.lookup(id)?.table.name;
    const arrow = fromClient ? '->' : '<-';
    const note =
      replacement === 'drop'
        ? ' [not forwarded: no protocol loaded]'
        : replacement !== undefined
          ? ' [version clamped to the loaded protocol]'
          : '';
    this.options.trace?.(
      `[${this.id}] ${arrow} ${formatMessage(obj.table.name, obj.id, meta.spec, args, lookup)}${note}`,
    );
  }

  /**
   * The fast path for the commonest messages that need understanding (wl_display.sync,
   * create_surface, wl_callback.done, delete_id, destroy requests…): fixed-size, no
   * fds, not traced. What the relay needs is read straight from the bytes; arguments
   * it does not act on are left for the compositor (or client) to validate, as they
   * would be without the bridge. Returns false to take the decoding path.
   */
  private handleFixedMessage(
    pipe: Pipe,
    fromClient: boolean,
    obj: WaylandObject,
    meta: MessageMeta,
    pos: number,
    size: number,
  ): boolean {
    if (meta.fixedSize !== size || meta.fdCount > 0 || this.options.trace !== undefined) {
      return false;
    }
    const rx = pipe.src.rx;
    if ((meta.flags & MessageFlags.Special) !== 0) {
      if (fromClient || obj.id !== 1 || meta.spec.name !== 'delete_id') return false;
      this.retire(readU32(rx, pos + 8));
    } else {
      const offsets = meta.newIdOffsets;
      for (let i = 0; i < offsets.length; i++) {
        const table = this.options.tables.get(meta.newIdInterfaces[i]!);
        if (table === undefined) return false; // let the decoding path report it
        const id = readU32(rx, pos + offsets[i]!);
        if (fromClient) this.createClientObject(id, table, obj.version);
        else this.objects.createFromServer(id, table, obj.version);
      }
      // Observed fixed-size messages (attach, damage, commit, release…) are the bulk of
      // a frame's traffic: their words are read as they are, without the general decoder.
      if ((meta.flags & MessageFlags.Observed) !== 0 && this.options.observer !== undefined) {
        this.options.observer.onMessage({
          fromClient,
          object: obj,
          name: meta.spec.name,
          args: decodeFixedArgs(meta.spec, rx, pos),
          time: performance.now(),
        });
      }
      if ((meta.flags & MessageFlags.Destructor) !== 0) this.objects.markDestroyed(obj);
    }
    pipe.forward(pos, pos + size);
    return true;
  }

  private createObjects(
    fromClient: boolean,
    parent: WaylandObject,
    meta: MessageMeta,
    args: ArgValue[],
  ): void {
    const specArgs = meta.spec.args;
    for (let i = 0; i < specArgs.length; i++) {
      const arg = specArgs[i]!;
      if (arg.type !== 'new_id' || arg.interface === undefined) continue;
      const id = args[i] as number;
      const table = this.options.tables.get(arg.interface);
      if (table === undefined) {
        // Only reachable with a protocol that names an interface it does not define.
        const err = `${parent.table.name}.${meta.spec.name} creates ${arg.interface}, which no loaded protocol defines`;
        if (fromClient)
          throw new ClientProtocolError(parent.id, DisplayErrorCode.implementation, err);
        throw new UpstreamProtocolError(err);
      }
      if (fromClient) this.createClientObject(id, table, parent.version);
      else this.objects.createFromServer(id, table, parent.version);
    }
  }

  /** wl_registry.bind is the only special request: its new_id carries its interface. */
  private handleSpecialRequest(obj: WaylandObject, meta: MessageMeta, args: ArgValue[]): undefined {
    if (obj.table.name === 'wl_registry' && meta.spec.name === 'bind') {
      const name = args[0] as number;
      const target = args[1] as UntypedNewId;
      const global = this.globals.get(name);
      if (global === undefined || global.interfaceName !== target.interface) {
        throw new ClientProtocolError(
          obj.id,
          DisplayErrorCode.invalidObject,
          `invalid global ${target.interface} (${name})`,
        );
      }
      if (target.version < 1 || target.version > global.version) {
        throw new ClientProtocolError(
          obj.id,
          DisplayErrorCode.invalidObject,
          `invalid version for global ${target.interface} (${name}): have ${global.version}, wanted ${target.version}`,
        );
      }
      const table = this.options.tables.get(target.interface);
      if (table === undefined)
        throw new Error(`advertised global without table: ${target.interface}`);
      this.createClientObject(target.id, table, target.version);
    }
    return undefined;
  }

  /** Display and registry events: object retirement, errors, and the global filter. */
  private handleSpecialEvent(
    obj: WaylandObject,
    meta: MessageMeta,
    args: ArgValue[],
  ): Uint8Array | 'drop' | undefined {
    if (obj.table.name === 'wl_display') {
      if (meta.spec.name === 'delete_id') this.retire(args[0] as number);
      else if (meta.spec.name === 'error') this.closing = true;
      return undefined;
    }
    // wl_registry
    if (meta.spec.name === 'global') {
      const name = args[0] as number;
      const interfaceName = args[1] as string;
      const version = args[2] as number;
      const table = this.options.tables.get(interfaceName);
      if (table === undefined) {
        this.hiddenGlobals.add(name);
        this.hiddenGlobalReporter.hidden(interfaceName, name, version);
        return 'drop';
      }
      const clamped = Math.min(version, table.spec.version);
      this.globals.set(name, { interfaceName, version: clamped });
      if (clamped === version) return undefined;
      return encodeMessage(obj.id, meta.opcode, meta.spec, [name, interfaceName, clamped]).bytes;
    }
    // global_remove
    const name = args[0] as number;
    if (this.hiddenGlobals.delete(name)) return 'drop';
    this.globals.delete(name);
    return undefined;
  }

  /** wl_display.delete_id: the observer hears of it before the id is forgotten. */
  private retire(id: number): void {
    const obj = this.objects.lookup(id);
    if (obj !== undefined && this.options.observer !== undefined) {
      this.options.observer.onDeleted(obj, performance.now());
    }
    this.objects.confirmDeleted(id);
  }

  private malformed(fromClient: boolean, objectId: number, what: string): never {
    if (fromClient)
      throw new ClientProtocolError(
        1,
        DisplayErrorCode.invalidMethod,
        `malformed message from object ${objectId}: ${what}`,
      );
    throw new UpstreamProtocolError(`malformed event: ${what}`);
  }

  /**
   * A whole message whose fds are not there. A sender's fds travel with (or before) the
   * first byte of the write that carries the message, and the kernel hands them over
   * with the first read of those bytes, so once the message is complete its fds will
   * never come: libwayland-server answers invalid_method at once, and so does the bridge.
   */
  private missingFds(fromClient: boolean, obj: WaylandObject, meta: MessageMeta): never {
    const what = `${obj.table.name}@${obj.id}.${meta.spec.name}`;
    if (fromClient) {
      throw new ClientProtocolError(
        obj.id,
        DisplayErrorCode.invalidMethod,
        `file descriptor expected: ${what}`,
      );
    }
    throw new UpstreamProtocolError(`file descriptor expected: ${what}`);
  }

  private unknownObject(fromClient: boolean, objectId: number): never {
    if (fromClient)
      throw new ClientProtocolError(
        1,
        DisplayErrorCode.invalidObject,
        `invalid object ${objectId}`,
      );
    throw new UpstreamProtocolError(`event for unknown object ${objectId}`);
  }

  private unknownOpcode(fromClient: boolean, obj: WaylandObject, opcode: number): never {
    if (fromClient) {
      throw new ClientProtocolError(
        obj.id,
        DisplayErrorCode.invalidMethod,
        `invalid method ${opcode}, object ${obj.table.name}@${obj.id}`,
      );
    }
    throw new UpstreamProtocolError(`invalid event ${opcode} for ${obj.table.name}@${obj.id}`);
  }
}

const NO_FDS: readonly number[] = [];

function collectFds(meta: MessageMeta, args: ArgValue[]): number[] {
  const fds: number[] = [];
  const specArgs = meta.spec.args;
  for (let i = 0; i < specArgs.length; i++)
    if (specArgs[i]!.type === 'fd') fds.push(args[i] as number);
  return fds;
}
