// One client and its own upstream connection to the compositor: the two sockets, the
// two pipes between them, back-pressure, the client's limits on what it makes the
// bridge hold, and how the session ends. What happens to each message is the
// MessageRelay's business (message-relay.ts). A client that breaks the protocol, or
// exceeds one of its limits (limits.ts), gets wl_display.error and is disconnected;
// nothing it does reaches another session.
//
// A session ends the way a direct connection to a libwayland-server compositor would,
// so that no reply and no error the compositor sent is lost on the way:
// - the client half-closes (shutdown(SHUT_WR), EOF while it still reads): its last
//   requests go to the compositor, whose connection is then half-closed too, and the
//   events keep coming until the compositor closes (libwayland-server answers what it
//   read, flushes, then closes at EOF);
// - the compositor stops taking requests (EPIPE or ECONNRESET writing to it, typically
//   right after it posted a wl_display.error and closed): what it sent before closing
//   is read and delivered, and the client's later requests are dropped;
// - the compositor closes, or its wl_display.error has gone by: nothing more is read,
//   and the session closes once the client has taken what is queued for it.
// Each of these waits at most LINGER_MS for a peer that does not do its part.

import { type FdReadiness, type FdWatch, watchFd } from '../../ffi/fd-watch.js';
import { isPeerGone, type UnixChannel } from '../../ffi/unix-channel.js';
import { ClientLimitError, type LimitName } from './errors.js';
import { MessageRelay, type MessageRelayOptions } from './message-relay.js';
import type { ObjectMap } from './object-map.js';
import { type FlushResult, Pipe } from './pipe.js';
import { describeFailure, displayError } from './session-errors.js';
import { atTurnEnd } from './turn-end.js';

export type { TraceSink } from './message-relay.js';

/** The relay's options (limits: this client's; its channels' buffers were sized from them). */
export interface SessionOptions extends MessageRelayOptions {
  readonly onClosed: (session: Session) => void;
}

/** How a session ended, for the bridge's counters (set once, when it closes). */
export interface SessionEnd {
  readonly reason: string;
  /** The wl_display.error the client got, and who posted it. */
  readonly error?: {
    readonly by: 'bridge' | 'compositor';
    /** The interface of the object the error names. */
    readonly interface: string;
    readonly code: number;
  };
  /** The limit the client went over (its error then names it too). */
  readonly limit?: LimitName;
}

/** Where a session is in its life (see the top of this file). */
const Phase = {
  /** Both directions relayed. */
  relaying: 0,
  /** The client half-closed: its requests are flushed, events flow until the compositor closes. */
  clientFinished: 1,
  /** The compositor takes no more requests: what it sent is read and delivered. */
  upstreamFinished: 2,
  /** Nothing more is read: the events queued for the client go out, then the session closes. */
  flushing: 3,
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

/** Reads per wake-up before yielding to other sessions' events. */
const MAX_READS_PER_WAKE = 16;

/**
 * How long an ending session waits for a peer to do its part (the compositor to close
 * after a half-close, the client to take its last events). libwayland-server closes
 * within one dispatch; this only bounds a peer that never does.
 */
export const LINGER_MS = 5000;

export interface SessionStats {
  /** Messages relayed client → compositor, and compositor → client. */
  readonly requests: number;
  readonly events: number;
  /** Bytes sent to the compositor, and to the client. */
  readonly bytesToCompositor: number;
  readonly bytesToClient: number;
  readonly objects: number;
  readonly buffered: number;
  readonly fds: number;
}

export class Session {
  readonly id: number;
  private readonly relay: MessageRelay;
  private readonly requests: Pipe;
  private readonly events: Pipe;
  private readonly clientWatch: FdWatch;
  private readonly upstreamWatch: FdWatch;
  private phase: Phase = Phase.relaying;
  /** Why the session is ending, once it is (the close reason). */
  private endReason = '';
  /** Set once the compositor's side has been half-closed (Phase.clientFinished). */
  private upstreamShut = false;
  private closed = false;
  private ending: SessionEnd | undefined;
  /** Armed while the client leaves its output full (see watchStall); else undefined. */
  private stallTimer: NodeJS.Timeout | undefined;
  /** The requests' hold while a deferred request waits for the turn's end (onDefer). */
  private deferredHold = 0;
  /** Armed once the session is ending: it closes when this fires (LINGER_MS). */
  private lingerTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: UnixChannel,
    private readonly upstream: UnixChannel,
    private readonly options: SessionOptions,
  ) {
    this.id = options.id;
    this.relay = new MessageRelay(
      options,
      (pipe, id, ready) => this.onHold(pipe, id, ready),
      (pipe) => this.onDefer(pipe),
    );
    this.requests = new Pipe(client, upstream);
    this.events = new Pipe(upstream, client);
    this.clientWatch = watchFd(client.fd, (ready) => this.onReady(ready, true));
    this.upstreamWatch = watchFd(upstream.fd, (ready) => this.onReady(ready, false));
  }

  /**
   * A socket is ready: the output waiting for it goes out, what it has is read. Every
   * callback from the event loop ends up here or in guard(): nothing escapes a session.
   */
  private onReady(ready: FdReadiness, client: boolean): void {
    if (this.closed) return;
    try {
      if (ready.writable) this.flush(client ? this.events : this.requests);
      if (this.closed) return;
      if (ready.readable || ready.hangup) {
        if (client) this.pump(this.requests, true);
        else this.pump(this.events, false);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * The observer holds a message and what follows it (grant mode copying a commit's
   * buffer): that direction neither reads nor handles more until the work is done.
   * Then the held output goes out, the input read meanwhile is handled (it may hold
   * again), and reading resumes (updateInterest). Other sessions go on meanwhile.
   */
  private onHold(pipe: Pipe, id: number, ready: Promise<void>): void {
    ready.then(
      () => this.resume(pipe, id, () => this.relay.handleInput(pipe, pipe === this.requests)),
      (err: unknown) =>
        this.guard(() => {
          throw err;
        }),
    );
  }

  /**
   * The relay stopped before a deferred request (grant mode's commit, MessageFlags
   * .Deferred): the client's requests wait behind a hold of their own until the event
   * loop has read every other connection ready in this turn (turn-end.ts).
   */
  private onDefer(pipe: Pipe): void {
    // Only requests are deferred, and a held pipe reads nothing more: one at a time.
    this.deferredHold = pipe.hold();
    atTurnEnd(this.resumeDeferred);
  }

  /** Made once, not per commit: the turn's end for the deferred request (onDefer). */
  private readonly resumeDeferred = (): void => {
    const id = this.deferredHold;
    this.deferredHold = 0;
    this.resume(this.requests, id, this.walkDeferred);
  };

  private readonly walkDeferred = (): void => this.relay.handleDeferred(this.requests);

  /** Releases hold `id`; once nothing before it is held, walks the input read meanwhile. */
  private resume(pipe: Pipe, id: number, walk: () => void): void {
    if (this.closed || !pipe.release(id)) return;
    this.guard(() => {
      if (pipe.inputEnd > pipe.inputStart) walk();
      if (this.closed) return;
      this.flush(pipe);
      if (this.relay.errorRelayed) this.finish('wl_display.error delivered');
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get objects(): ObjectMap {
    return this.relay.objects;
  }

  /**
   * Counters for stats and tests, read from the pipes (nothing is counted per message for
   * them); `buffered` and `fds` are what the limits bound.
   */
  stats(): SessionStats {
    return {
      requests: this.requests.messages,
      events: this.events.messages,
      bytesToCompositor: this.requests.bytes,
      bytesToClient: this.events.bytes,
      objects: this.relay.objects.size,
      buffered: this.requests.bufferedBytes + this.events.bufferedBytes,
      fds: this.fdsHeld(),
    };
  }

  /** How the session ended (undefined while it is open). */
  get end(): SessionEnd | undefined {
    return this.closed ? this.ending : undefined;
  }

  /** Ends the session at once (bridge shutdown, or its end): both sockets close. */
  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    const upstreamError = this.relay.upstreamError;
    this.ending ??=
      upstreamError === undefined
        ? { reason }
        : {
            reason,
            error: {
              by: 'compositor',
              interface: this.interfaceOf(upstreamError.objectId),
              code: upstreamError.code,
            },
          };
    this.options.log.debug({ session: this.id, reason }, 'session closed');
    clearTimeout(this.stallTimer);
    clearTimeout(this.lingerTimer);
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

  /** Timers and holds run their work through here: nothing escapes a session. */
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
    const plan = describeFailure(err);
    this.options.log[plan.log.level]({ session: this.id, ...plan.log.fields }, plan.log.message);
    if (plan.deliverRequests) this.deliverValidRequests();
    if (plan.tellClient !== undefined) {
      const { objectId, code, message } = plan.tellClient;
      this.sendDisplayError(objectId, code, message);
      this.ending = {
        reason: plan.reason,
        error: { by: 'bridge', interface: this.interfaceOf(objectId), code },
        limit: err instanceof ClientLimitError ? err.limit : undefined,
      };
    }
    this.close(plan.reason);
  }

  /** The interface of a client object, for counting errors ('unknown' once gone). */
  private interfaceOf(objectId: number): string {
    return this.relay.objects.lookup(objectId)?.table.name ?? 'unknown';
  }

  /**
   * Before a client is cut off, the requests it sent before the offending one go to the
   * compositor, which would have dispatched them without the bridge. Best effort: one
   * flush, nothing more if the compositor's socket is full.
   */
  private deliverValidRequests(): void {
    if (this.phase !== Phase.relaying && this.phase !== Phase.clientFinished) return;
    try {
      this.requests.flush();
    } catch (err) {
      if (!isPeerGone(err))
        this.options.log.debug({ err }, 'could not deliver requests before an error');
    }
  }

  /** Best effort, like libwayland-server: queue the error after pending events, flush once. */
  private sendDisplayError(objectId: number, code: number, message: string): void {
    if (!this.client.isOpen) return;
    try {
      const bytes = displayError(this.options.tables, objectId, code, message);
      if (bytes !== undefined && this.events.write(bytes)) this.events.flush();
    } catch (err) {
      if (!isPeerGone(err)) this.options.log.debug({ err }, 'could not deliver wl_display.error');
    }
  }

  /** Reads and relays what the source has, until it has no more or the destination is full. */
  private pump(pipe: Pipe, fromClient: boolean): void {
    if (!this.reads(fromClient) || pipe.holds > 0) return;
    if (!fromClient && this.events.pendingOutput && this.eventFdsOver()) return;
    for (let i = 0; i < MAX_READS_PER_WAKE && !this.closed; i++) {
      const fdsBefore = pipe.fdsReceived;
      const got = pipe.receive();
      if (fromClient && pipe.fdsReceived !== fdsBefore) this.checkFdLimit();
      if (got === 'full') {
        if (pipe === this.events) this.watchStall();
        this.updateInterest();
        break;
      }
      if (got === 'again') break;
      if (got === 'eof') {
        if (fromClient) this.clientFinished();
        else this.finish('compositor disconnected');
        return;
      }
      this.relay.handleInput(pipe, fromClient);
      if (this.closed) return;
      if (this.flush(pipe) !== 'done' || !this.reads(fromClient)) break;
      if (got === 'drained') break;
    }
    if (this.relay.errorRelayed) this.finish('wl_display.error delivered');
  }

  /** Whether the session still reads the client (true) or the compositor (false). */
  private reads(fromClient: boolean): boolean {
    return fromClient ? this.phase === Phase.relaying : this.phase !== Phase.flushing;
  }

  /** Sends what the pipe has queued; a peer that is gone moves the session on. */
  private flush(pipe: Pipe): FlushResult {
    let result: FlushResult;
    try {
      result = pipe.flush();
    } catch (err) {
      if (!isPeerGone(err)) throw err;
      if (pipe === this.requests) this.upstreamFinished();
      else this.close('client gone');
      return 'blocked';
    }
    if (result === 'done' && this.phase !== Phase.relaying) {
      if (pipe === this.requests && this.phase === Phase.clientFinished) this.shutUpstream();
      if (pipe === this.events && this.phase === Phase.flushing) {
        this.close(this.endReason);
        return result;
      }
    }
    this.updateInterest();
    return result;
  }

  /**
   * The client read EOF. A client that closed its socket takes nothing more, and
   * libwayland-server drops a hung-up client at once: the session ends with one last
   * flush of its requests. A client that only shut down its writing still reads: its
   * last requests go to the compositor, and their replies come back (Phase.clientFinished).
   */
  private clientFinished(): void {
    if (this.client.peerHungUp) {
      this.deliverValidRequests();
      this.close('client disconnected');
      return;
    }
    this.enter(Phase.clientFinished, 'client half-closed; the compositor did not close');
    if (!this.requests.pendingOutput) this.shutUpstream();
    this.updateInterest();
  }

  /** Half-closes the compositor's connection once the client's last requests are out. */
  private shutUpstream(): void {
    if (this.upstreamShut) return;
    this.upstreamShut = true;
    this.upstream.shutdownWrite();
  }

  /**
   * Writing to the compositor failed: it closed (or reset) the connection. Whatever it
   * sent before — a wl_display.error, typically — is still in the socket: read it and
   * deliver it. The client's requests from here on have nowhere to go.
   */
  private upstreamFinished(): void {
    if (this.closed || this.phase === Phase.upstreamFinished || this.phase === Phase.flushing)
      return;
    this.requests.discard();
    this.enter(Phase.upstreamFinished, 'the compositor stopped reading and did not close');
    this.updateInterest();
  }

  /** Nothing more to read: the session closes once the client has its events. */
  private finish(reason: string): void {
    if (this.closed || this.phase === Phase.flushing) return;
    this.enter(Phase.flushing, reason);
    if (!this.events.pendingOutput) this.close(reason);
    else this.flush(this.events);
  }

  private enter(phase: Phase, reason: string): void {
    this.phase = phase;
    this.endReason = reason;
    if (this.lingerTimer !== undefined) return;
    this.lingerTimer = setTimeout(() => {
      this.lingerTimer = undefined;
      this.close(`${this.endReason} (gave up after ${LINGER_MS} ms)`);
    }, LINGER_MS);
    this.lingerTimer.unref();
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
      if (this.closed || (!this.events.paused && !this.eventFdsOver())) return;
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

  /**
   * Whether the compositor has sent this client more fds than it has taken, past maxFds.
   * Fds the compositor sends (keymaps, dmabuf feedback tables, data transfers a client
   * can provoke) wait in the bridge until the client reads; they count against the
   * client's maxFds like its own, but going over is not the client's fault, so instead of
   * cutting it off the session stops reading the compositor for it until it takes them,
   * as with bytes (a client that takes nothing for stallTimeoutMs is cut off). Only fds of
   * handled messages count here: an fd whose message has not fully arrived must not stop
   * the read that completes it. At most one recvmsg (253 fds) more can arrive.
   */
  private eventFdsOver(): boolean {
    const claimed = this.events.fdsHeld - this.events.inFds.length;
    return claimed > 0 && this.fdsHeld() > this.options.limits.maxFds;
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

  private updateInterest(): void {
    if (this.closed) return;
    // A held pipe reads nothing until its hold is released (onHold).
    this.clientWatch.setInterest(
      this.reads(true) && !this.requests.paused && this.requests.holds === 0,
      this.events.sendable,
    );
    const fdsWaiting = this.events.pendingOutput && this.eventFdsOver();
    if (fdsWaiting) this.watchStall();
    this.upstreamWatch.setInterest(
      this.reads(false) && !this.events.paused && this.events.holds === 0 && !fdsWaiting,
      this.requests.sendable && this.phase !== Phase.upstreamFinished,
    );
  }
}
