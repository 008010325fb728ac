// The relay of one session's messages, both directions: walks the complete messages a
// pipe has received and forwards them unchanged and in order, decoding only what it
// must understand (see message-table.ts) to keep the object map exact, to carry fds,
// and to hide globals it has no protocol for. Knows nothing of sockets: the session
// reads and flushes the pipes; this decides what goes into them. A fault throws the
// ClientProtocolError or UpstreamProtocolError the session ends on (session-errors.ts).

import type { Logger } from 'pino';
import { releaseFd } from '../../ffi/fd-release.js';
import { HiddenGlobalReporter } from '../protocol/hidden-globals.js';
import { MAX_MESSAGE_SIZE } from '../wire/constants.js';
import { decodeArgs, decodeFixedArgsInto } from '../wire/decode.js';
import { encodeMessage } from '../wire/encode.js';
import { WireError } from '../wire/errors.js';
import { formatMessage } from '../wire/format.js';
import { readObjectId, readOpcode, readSize } from '../wire/header.js';
import { readI32, readU32 } from '../wire/le.js';
import type { ArgValue, UntypedNewId } from '../wire/values.js';
import { ClientLimitError } from './errors.js';
import type { ClientLimits } from './limits.js';
import {
  type InterfaceTable,
  MessageFlags,
  type MessageMeta,
  type MessageTables,
} from './message-table.js';
import { ObjectMap, type WaylandObject } from './object-map.js';
import type { ObservedMessage, SessionObserver } from './observer.js';
import type { Pipe } from './pipe.js';
import { RegistryFilter } from './registry-filter.js';
import {
  invalidArguments,
  malformed,
  missingFds,
  tooNew,
  undefinedInterface,
  unknownObject,
  unknownOpcode,
} from './session-errors.js';

/** Receives one line per message when --trace is on. */
export type TraceSink = (line: string) => void;

export interface MessageRelayOptions {
  /** The session's id, for logs and trace lines. */
  readonly id: number;
  readonly tables: MessageTables;
  readonly log: Logger;
  readonly limits: ClientLimits;
  readonly trace?: TraceSink;
  /** Sees the messages its factory asked for (see observer.ts). */
  readonly observer?: SessionObserver;
}

export class MessageRelay {
  readonly objects: ObjectMap;
  /** The compositor's wl_display.error, once forwarded: the session ends. */
  upstreamError: { readonly objectId: number; readonly code: number } | undefined;
  private readonly registry: RegistryFilter;
  private readonly hiddenGlobalReporter: HiddenGlobalReporter;
  /** The time observers are told for the batch being handled (-1: not read yet). */
  private batchTime = -1;
  /** Reused for every fixed-size message shown to the observer. */
  private readonly fixedMessage: MutableObservedMessage = {
    fromClient: false,
    object: DETACHED,
    name: '',
    args: [],
    time: 0,
  };
  private readonly fixedArgs: ArgValue[] = [];
  /** A hold the observer asked for on the fixed-size message just handled. */
  private ready: Promise<void> | undefined;
  /**
   * Set for a walk that handleDeferred started: the turn's end has come for it, so its
   * deferred requests are handled (once per walk is enough to let the others go first).
   */
  private deferredTurnCame = false;

  /** Set once the compositor's wl_display.error has been forwarded. */
  get errorRelayed(): boolean {
    return this.upstreamError !== undefined;
  }

  /**
   * onHold: output from a message on waits for `ready`; the session releases hold `id`
   * of `pipe` when it settles (session.ts). onDefer: the walk stopped before a deferred
   * request; the session calls handleDeferred once the turn's other connections are read.
   */
  constructor(
    private readonly options: MessageRelayOptions,
    private readonly onHold: (pipe: Pipe, id: number, ready: Promise<void>) => void = noHolds,
    private readonly onDefer: (pipe: Pipe) => void = noHolds,
  ) {
    this.objects = new ObjectMap(options.tables.display());
    this.registry = new RegistryFilter((name) => options.tables.get(name));
    this.hiddenGlobalReporter = new HiddenGlobalReporter(options.log, options.id);
  }

  /**
   * Walks the complete messages in pipe's input. Messages forwarded unchanged (plain
   * ones, and those the relay or an observer only reads) make one run of bytes; a
   * message that is rewritten, dropped or carries fds ends the run, is handled, and
   * starts the next. Stops at a partial message, or at one whose fds have not arrived
   * yet. An observer that asks for a hold (MessageRewrite.ready) holds the output from
   * that message on until its work is done (onHold): the walk stops after that message,
   * and the session walks the rest once the hold is released. So nothing after a held
   * message changes any state before the observer's work is done.
   *
   * A deferred request (MessageFlags.Deferred: grant mode's commit) stops the walk before
   * it, unhandled (onDefer); the session walks on from it with handleDeferred at the end
   * of the event loop's turn. In a burst, every client's commit then costs the loop its
   * work only after every ready connection has been read and relayed: a sync sent
   * behind 64 commits is not read behind their work (issue 10). One client's order is
   * kept; nothing it sent after the commit is handled before it.
   */
  handleInput(pipe: Pipe, fromClient: boolean): void {
    const rx = pipe.rx;
    const traceAll = this.options.trace !== undefined;
    let pos = pipe.inputStart;
    let runStart = pos;
    let messages = 0;
    const end = pipe.inputEnd;
    const observer = this.options.observer;
    // Traced sessions print every message: damage takes the decoding path there.
    const damageSink = traceAll || observer?.onDamage === undefined ? undefined : observer;
    this.batchTime = -1;
    try {
      while (end - pos >= 8) {
        const size = readSize(rx, pos);
        if (size < 8 || (size & 3) !== 0 || size > MAX_MESSAGE_SIZE) {
          throw malformed(fromClient, readObjectId(rx, pos), `bad message size ${size}`);
        }
        if (end - pos < size) break;
        const objectId = readObjectId(rx, pos);
        const opcode = readOpcode(rx, pos);
        const obj = this.objects.lookup(objectId);
        if (obj === undefined) throw unknownObject(fromClient, objectId);
        const meta = fromClient ? obj.table.requests[opcode] : obj.table.events[opcode];
        if (meta === undefined) throw unknownOpcode(fromClient, obj, opcode);
        if (fromClient && meta.since > obj.version) throw tooNew(obj, meta);
        if (meta.flags === MessageFlags.None && !traceAll) {
          pos += size;
          messages++;
          continue;
        }
        if ((meta.flags & DAMAGE) !== 0 && damageSink !== undefined && size === DAMAGE_SIZE) {
          // A frame's bulk (grant mode): four words to the observer, no message built.
          damageSink.onDamage?.(
            obj,
            (meta.flags & MessageFlags.BufferDamage) !== 0,
            readI32(rx, pos + 8),
            readI32(rx, pos + 12),
            readI32(rx, pos + 16),
            readI32(rx, pos + 20),
          );
          pos += size; // forwarded unchanged: part of the run
          messages++;
          continue;
        }
        if ((meta.flags & MessageFlags.Deferred) !== 0 && fromClient && !this.deferredTurnCame) {
          // Held from the run before it on: nothing of this client is sent now (the
          // finally queues the run behind the hold), so reading the other ready
          // connections costs one recvmsg each, and their sends wait for the turn's end.
          this.onDefer(pipe);
          break;
        }
        if (meta.fdCount > pipe.inFds.length) throw missingFds(fromClient, obj, meta);
        if (this.handleFixedMessage(fromClient, obj, meta, rx, pos, size)) {
          const ready = this.ready;
          if (ready !== undefined) {
            this.ready = undefined;
            // The output before this message goes out; from it on, output waits.
            pipe.forward(runStart, pos);
            runStart = pos;
            this.onHold(pipe, pipe.hold(), ready);
            pos += size;
            messages++;
            break;
          }
          pos += size; // forwarded unchanged: part of the run
          messages++;
          continue;
        }
        pipe.forward(runStart, pos);
        // The run is out: if this message is rejected, the finally must not send it again.
        runStart = pos;
        const held = this.handleMessage(pipe, fromClient, obj, meta, pos, size);
        pos += size;
        runStart = pos;
        messages++;
        if (held) break;
      }
    } finally {
      // Everything before the failing (or partial) message was valid: pass it on.
      pipe.forward(runStart, pos);
      pipe.consumed(pos, messages);
    }
  }

  /**
   * Walks the client's input on from the deferred request it stopped at (onDefer): the
   * end of the turn has come for it. Deferred requests later in the same walk are not
   * deferred again.
   */
  handleDeferred(pipe: Pipe): void {
    this.deferredTurnCame = true;
    try {
      this.handleInput(pipe, true);
    } finally {
      this.deferredTurnCame = false;
    }
  }

  /** performance.now() once per batch of input: what observers are told as the time. */
  private now(): number {
    if (this.batchTime < 0) this.batchTime = performance.now();
    return this.batchTime;
  }

  /** Handles a message that needs decoding; true when it is held (the walk stops). */
  private handleMessage(
    pipe: Pipe,
    fromClient: boolean,
    obj: WaylandObject,
    meta: MessageMeta,
    pos: number,
    size: number,
  ): boolean {
    const rx = pipe.rx;
    let args: ArgValue[];
    try {
      args = decodeArgs(meta.spec, rx, pos, size, pipe.inFds);
    } catch (err) {
      if (err instanceof WireError) {
        for (const fd of err.fds ?? []) releaseFd(fd);
        throw invalidArguments(fromClient, obj, meta, err.message);
      }
      throw err;
    }
    let fds = meta.fdCount > 0 ? collectFds(meta, args) : NO_FDS;
    let replacement: Uint8Array | 'drop' | undefined;
    let ready: Promise<void> | undefined;
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
        for (const fd of fds) releaseFd(fd);
        return false;
      }
      if ((meta.flags & MessageFlags.Observed) !== 0 && this.options.observer !== undefined) {
        const rewrite = this.options.observer.onMessage({
          fromClient,
          object: obj,
          name: meta.spec.name,
          args,
          time: this.now(),
        });
        // The observer now owns the original fds; the replacements are ours to send.
        if (rewrite?.fds !== undefined) fds = rewrite.fds;
        ready = rewrite?.ready;
      }
    } catch (err) {
      for (const fd of fds) releaseFd(fd);
      throw err;
    }
    if ((meta.flags & MessageFlags.Destructor) !== 0) this.objects.markDestroyed(obj);
    if (ready !== undefined) this.onHold(pipe, pipe.hold(), ready);
    pipe.attachFds(fds);
    if (replacement !== undefined) pipe.write(replacement);
    else pipe.forward(pos, pos + size);
    return ready !== undefined;
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
      `[${this.options.id}] ${arrow} ${formatMessage(obj.table.name, obj.id, meta.spec, args, lookup)}${note}`,
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
    fromClient: boolean,
    obj: WaylandObject,
    meta: MessageMeta,
    rx: Uint8Array,
    pos: number,
    size: number,
  ): boolean {
    if (meta.fixedSize !== size || meta.fdCount > 0 || this.options.trace !== undefined) {
      return false;
    }
    if ((meta.flags & MessageFlags.Special) !== 0) {
      if (fromClient || obj.id !== 1 || meta.spec.name !== 'delete_id') return false;
      this.retire(readU32(rx, pos + 8));
      return true;
    }
    const offsets = meta.newIdOffsets;
    for (let i = 0; i < offsets.length; i++) {
      const table = this.options.tables.get(meta.newIdInterfaces[i]!);
      if (table === undefined) return false; // let the decoding path report it
      const id = readU32(rx, pos + offsets[i]!);
      if (fromClient) this.createClientObject(id, table, obj.version);
      else this.objects.createFromServer(id, table, obj.version);
    }
    // Observed fixed-size messages (attach, damage, commit, release…) are the bulk of
    // a frame's traffic: their words are read as they are, without the general decoder,
    // into one message object and one array reused for every message (observer.ts).
    const observer = this.options.observer;
    if ((meta.flags & MessageFlags.Observed) !== 0 && observer !== undefined) {
      const m = this.fixedMessage;
      m.fromClient = fromClient;
      m.object = obj;
      m.name = meta.spec.name;
      m.args = decodeFixedArgsInto(meta.fixedKinds, rx, pos, this.fixedArgs);
      m.time = this.now();
      const rewrite = observer.onMessage(m);
      if (rewrite?.ready !== undefined) this.ready = rewrite.ready;
    }
    if ((meta.flags & MessageFlags.Destructor) !== 0) this.objects.markDestroyed(obj);
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
      // Only reachable with a protocol that names an interface it does not define.
      if (table === undefined) throw undefinedInterface(fromClient, parent, meta, arg.interface);
      if (fromClient) this.createClientObject(id, table, parent.version);
      else this.objects.createFromServer(id, table, parent.version);
    }
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

  /** wl_registry.bind is the only special request: its new_id carries its interface. */
  private handleSpecialRequest(obj: WaylandObject, meta: MessageMeta, args: ArgValue[]): undefined {
    if (obj.table.name === 'wl_registry' && meta.spec.name === 'bind') {
      const target = args[1] as UntypedNewId;
      const table = this.registry.bind(obj.id, args[0] as number, target.interface, target.version);
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
      else if (meta.spec.name === 'error') {
        this.upstreamError = { objectId: args[0] as number, code: args[1] as number };
      }
      return undefined;
    }
    // wl_registry
    if (meta.spec.name === 'global') {
      const name = args[0] as number;
      const interfaceName = args[1] as string;
      const version = args[2] as number;
      const told = this.registry.announce(name, interfaceName, version);
      if (told === 'hide') {
        this.hiddenGlobalReporter.hidden(interfaceName, name, version);
        return 'drop';
      }
      if (told === version) return undefined;
      return encodeMessage(obj.id, meta.opcode, meta.spec, [name, interfaceName, told]).bytes;
    }
    // global_remove
    return this.registry.remove(args[0] as number) === 'hide' ? 'drop' : undefined;
  }

  /** wl_display.delete_id: the observer hears of it before the id is forgotten. */
  private retire(id: number): void {
    const obj = this.objects.lookup(id);
    if (obj !== undefined && this.options.observer !== undefined) {
      this.options.observer.onDeleted(obj, performance.now());
    }
    this.objects.confirmDeleted(id);
  }
}

const NO_FDS: readonly number[] = [];

/** Observed wl_surface damage requests (flags set by message-table.ts only when observed). */
const DAMAGE = MessageFlags.SurfaceDamage | MessageFlags.BufferDamage;
/** wl_surface.damage and damage_buffer: header and four ints. */
const DAMAGE_SIZE = 24;

type MutableObservedMessage = { -readonly [K in keyof ObservedMessage]: ObservedMessage[K] };

/** What the reused message points at between messages: no object of any session. */
const DETACHED: WaylandObject = {
  id: 0,
  table: {
    spec: { name: '', version: 0, requests: [], events: [], enums: [] },
    name: '',
    requests: [],
    events: [],
  },
  version: 0,
  alive: false,
};

function noHolds(): never {
  throw new Error('this relay cannot hold output (no onHold given)');
}

function collectFds(meta: MessageMeta, args: ArgValue[]): number[] {
  const fds: number[] = [];
  const specArgs = meta.spec.args;
  for (let i = 0; i < specArgs.length; i++)
    if (specArgs[i]!.type === 'fd') fds.push(args[i] as number);
  return fds;
}
