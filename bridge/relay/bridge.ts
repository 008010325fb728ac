// The bridge: one listening socket, and for every client that connects a Session with
// its own fresh connection to the compositor. Owns the sessions' lifetimes and nothing
// else; what happens to messages is the sessions' business.

import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { errorReason, SyscallError } from '../../ffi/errors.js';
import { close as closeFd, connectUnix, ERRNO, peerCredentials } from '../../ffi/libc.js';
import { UnixChannel } from '../../ffi/unix-channel.js';
import type { ProtocolRegistry } from '../protocol/registry.js';
import {
  DisplayErrorCode,
  ListenSocketError,
  overLimitMessage,
  UpstreamUnavailableError,
} from './errors.js';
import { type ClientLimits, channelCapacities, resolveClientLimits } from './limits.js';
import { type ListenerOptions, RETRY_MS, WaylandListener } from './listener.js';
import { MessageTables } from './message-table.js';
import type { ObserverFactory, SessionObserver } from './observer.js';
import { type ProxyLimits, resolveProxyLimits } from './proxy-limits.js';
import { RelayTotals } from './relay-totals.js';
import { Session, type SessionStats, type TraceSink } from './session.js';
import { displayError } from './session-errors.js';

export interface BridgeOptions {
  /** Absolute path of the socket to listen on. */
  readonly listenPath: string;
  /** Absolute path of the compositor's socket. */
  readonly upstreamPath: string;
  readonly registry: ProtocolRegistry;
  readonly log: Logger;
  readonly trace?: TraceSink;
  /** Creates each session's observer (the shm tracker, grant mode). */
  readonly observe?: ObserverFactory;
  /** Per-client limits; those not given take their defaults (limits.ts, SECURITY.md). */
  readonly limits?: Partial<ClientLimits>;
  /**
   * Limits across the proxy (proxy-limits.ts); those not given take the machine's
   * defaults. The bridge enforces maxClients and maxClientsPerUid as clients connect;
   * maxShmTotalAll is the shm tracker's to enforce (it only appears in the log here).
   */
  readonly proxyLimits?: Partial<ProxyLimits>;
  /**
   * A socket made by someone else to accept on (socket activation), instead of binding
   * listenPath; listenPath must then be where it is bound.
   */
  readonly listenFd?: number;
}

/** Who a live client is, as SO_PEERCRED said when it connected. */
export interface ClientIdentity {
  readonly session: number;
  readonly pid: number;
  readonly uid: number;
  /** performance.now() when it connected. */
  readonly connectedAt: number;
}

export class Bridge {
  private readonly sessions = new Map<Session, ClientIdentity>();
  /** Live sessions per uid (maxClientsPerUid). Invariant: the counts of `sessions`. */
  private readonly perUid = new Map<number, number>();
  private readonly tables: MessageTables;
  private readonly listener: WaylandListener;
  readonly limits: ClientLimits;
  readonly proxyLimits: ProxyLimits;
  /** What every session ever relayed, how each ended, and who was refused. */
  readonly totals = new RelayTotals();
  /** Socket buffer sizes, derived from limits.maxBufferedBytes. */
  private readonly capacities: { rx: number; tx: number };
  private nextSessionId = 1;
  private closed = false;
  private closedWaiters: (() => void)[] = [];

  private constructor(
    private readonly options: BridgeOptions,
    limits: ClientLimits,
    proxyLimits: ProxyLimits,
  ) {
    this.tables = new MessageTables(options.registry, options.observe);
    this.limits = limits;
    this.proxyLimits = proxyLimits;
    this.capacities = channelCapacities(limits);
    const onConnection = (fd: number): void => this.accept(fd);
    const listenerOptions: ListenerOptions & { onLockHeld: (lockPath: string) => void } = {
      refuse: (fd, reason) => {
        this.totals.refused('fd-table-full');
        refuseClient(fd, this.tables, DisplayErrorCode.implementation, reason);
      },
      onTrouble: ({ errno, action, refused }) => {
        const level = action === 'skipped' ? 'debug' : 'warn';
        options.log[level](
          { errno, refused, retryMs: action === 'skipped' ? undefined : RETRY_MS },
          action === 'refused'
            ? 'fd table full: waiting clients refused, accepting paused'
            : action === 'paused'
              ? 'cannot accept: accepting paused'
              : 'a connection failed while being accepted',
        );
      },
      onLockHeld: (lockPath) =>
        options.log.info({ lockPath }, 'lock file held by the process that made the socket'),
    };
    this.listener =
      options.listenFd === undefined
        ? WaylandListener.open(options.listenPath, onConnection, listenerOptions)
        : WaylandListener.adopt(options.listenFd, onConnection, listenerOptions);
  }

  /**
   * Validates the limits, checks the upstream socket exists and is not the one to
   * listen on, then listens.
   */
  static start(options: BridgeOptions): Bridge {
    const limits = resolveClientLimits(options.limits);
    const proxyLimits = resolveProxyLimits(options.proxyLimits ?? {}, limits);
    checkUpstream(options.upstreamPath, options.listenPath);
    const bridge = new Bridge(options, limits, proxyLimits);
    // A link to the listening path passes the check above while the stale socket it
    // pointed to is there; once the bridge listens it points to the bridge itself.
    if (sameFile(options.upstreamPath, options.listenPath)) {
      bridge.close();
      throw new ListenSocketError(options.listenPath, SELF_UPSTREAM);
    }
    options.log.info(
      {
        listen: options.listenPath,
        upstream: options.upstreamPath,
        socketActivated: options.listenFd !== undefined,
        limits,
        proxyLimits,
      },
      'bridge listening',
    );
    return bridge;
  }

  get listenPath(): string {
    return this.options.listenPath;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Whether this bridge holds NAME.lock (the names beside its socket are its own). */
  get holdsLock(): boolean {
    return this.listener.holdsLock;
  }

  /** Each live session's counters (Session.stats), for monitoring and tests. */
  sessionStats(): ({ id: number } & SessionStats)[] {
    return [...this.sessions.keys()].map((s) => ({ id: s.id, ...s.stats() }));
  }

  /** Each live client: who it is and its counters. */
  clients(): (ClientIdentity & SessionStats)[] {
    return [...this.sessions].map(([s, who]) => ({ ...who, ...s.stats() }));
  }

  /** Messages and bytes relayed so far each way, closed sessions' and live ones'. */
  relayed(): {
    requests: number;
    events: number;
    bytesToCompositor: number;
    bytesToClient: number;
  } {
    return this.totals.relayed([...this.sessions.keys()].map((s) => s.stats()));
  }

  /** Resolves when no session is left (after the last client leaves). */
  whenIdle(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  /**
   * Serves one accepted client: a fresh compositor connection and a session. Owns
   * clientFd, and never throws (it runs on the listener's callback): a client that
   * cannot be served is told why and closed, and nothing it was given stays open.
   */
  private accept(clientFd: number): void {
    let peer: { pid: number; uid: number };
    try {
      peer = peerCredentials(clientFd);
    } catch (err) {
      // The client is gone already (or this is no unix socket): nothing to serve.
      this.options.log.debug(
        { reason: errorReason(err) },
        'no peer credentials; connection closed',
      );
      closeFd(clientFd);
      return;
    }
    const refusal = this.admission(peer.uid);
    if (refusal !== undefined) {
      this.totals.refused(refusal.limit);
      this.options.log.warn(
        { limit: refusal.limit, value: refusal.value, pid: peer.pid, uid: peer.uid },
        `client refused: ${refusal.message}`,
      );
      refuseClient(clientFd, this.tables, DisplayErrorCode.noMemory, refusal.message);
      return;
    }
    let upstreamFd: number;
    try {
      upstreamFd = connectUnix(this.options.upstreamPath);
    } catch (err) {
      const reason = errorReason(err);
      if (isOutOfFds(err)) {
        // The fd table is full: accepting more would only fail the same way.
        this.listener.pauseFor(RETRY_MS);
        this.options.log.warn({ reason }, 'fd table full: client refused, accepting paused');
        this.totals.refused('fd-table-full');
        refuseClient(
          clientFd,
          this.tables,
          DisplayErrorCode.implementation,
          `grantway: no file descriptor left to connect to the compositor (${reason}); try again later`,
        );
        return;
      }
      this.options.log.error(
        { upstream: this.options.upstreamPath, reason },
        'compositor unreachable; client refused',
      );
      this.totals.refused('compositor-unreachable');
      refuseClient(
        clientFd,
        this.tables,
        DisplayErrorCode.implementation,
        `grantway: compositor unreachable (${reason})`,
      );
      return;
    }
    const id = this.nextSessionId++;
    let observer: SessionObserver | undefined;
    let client: UnixChannel | undefined;
    let upstream: UnixChannel | undefined;
    try {
      observer = this.options.observe?.create(id, {
        upstreamPid: peerCredentials(upstreamFd).pid,
        clientPid: peer.pid,
        limits: this.limits,
      });
      const { rx, tx } = this.capacities;
      upstream = new UnixChannel(upstreamFd, rx, tx);
      client = new UnixChannel(clientFd, rx, tx);
      const session = new Session(client, upstream, {
        id,
        tables: this.tables,
        log: this.options.log,
        limits: this.limits,
        trace: this.options.trace,
        observer,
        onClosed: (s) => this.onSessionClosed(s),
      });
      this.sessions.set(session, {
        session: id,
        pid: peer.pid,
        uid: peer.uid,
        connectedAt: performance.now(),
      });
      this.perUid.set(peer.uid, (this.perUid.get(peer.uid) ?? 0) + 1);
      this.totals.accepted();
      this.options.log.debug({ session: id, pid: peer.pid, uid: peer.uid }, 'client connected');
    } catch (err) {
      this.options.log.error({ session: id, err }, 'cannot start a session; client refused');
      observer?.onClosed(performance.now());
      if (upstream !== undefined) upstream.close();
      else closeFd(upstreamFd);
      const message = 'grantway: internal error';
      this.totals.refused('internal-error');
      const code = DisplayErrorCode.implementation;
      if (client !== undefined) tellAndClose(client, this.tables, code, message);
      else refuseClient(clientFd, this.tables, code, message);
    }
  }

  /** Why a new client of `uid` cannot be served now (proxy-limits.ts), or undefined. */
  private admission(
    uid: number,
  ): { limit: 'maxClients' | 'maxClientsPerUid'; value: number; message: string } | undefined {
    const { maxClients, maxClientsPerUid } = this.proxyLimits;
    const over = (limit: 'maxClients' | 'maxClientsPerUid', value: number, what: string) => ({
      limit,
      value,
      message: `grantway: ${overLimitMessage(limit, value, what)}; try again later`,
    });
    if (this.sessions.size >= maxClients) {
      return over('maxClients', maxClients, `a new client while ${this.sessions.size} are served`);
    }
    const ofUid = this.perUid.get(uid) ?? 0;
    if (ofUid >= maxClientsPerUid) {
      return over(
        'maxClientsPerUid',
        maxClientsPerUid,
        `a new client of uid ${uid} while ${ofUid} of that uid are served`,
      );
    }
    return undefined;
  }

  private onSessionClosed(session: Session): void {
    const who = this.sessions.get(session);
    if (who === undefined) return;
    this.sessions.delete(session);
    const left = (this.perUid.get(who.uid) ?? 1) - 1;
    if (left > 0) this.perUid.set(who.uid, left);
    else this.perUid.delete(who.uid);
    this.totals.ended(session.stats(), session.end);
    // Its fds are free: if accepting paused for want of them, it can go on.
    this.listener.resume();
    if (this.sessions.size === 0) {
      const waiters = this.closedWaiters;
      this.closedWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Stops listening and disconnects every client. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener.close();
    for (const session of [...this.sessions.keys()]) session.close('bridge shutting down');
  }
}

const SELF_UPSTREAM =
  'it is also the compositor socket (--upstream): the bridge would connect to itself';

function checkUpstream(path: string, listenPath: string): void {
  if (resolve(path) === resolve(listenPath) || sameFile(path, listenPath)) {
    throw new ListenSocketError(listenPath, SELF_UPSTREAM);
  }
  let isSocket: boolean;
  try {
    isSocket = statSync(path).isSocket();
  } catch {
    throw new UpstreamUnavailableError(path, 'no such socket');
  }
  if (!isSocket) throw new UpstreamUnavailableError(path, 'not a socket');
}

/**
 * Whether two paths name one file: the same inode, or (for a path not there yet) the
 * same name in the same directory once links are resolved.
 */
function sameFile(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    try {
      const real = (p: string): string => join(realpathSync(dirname(p)), basename(p));
      return real(a) === real(b);
    } catch {
      return false;
    }
  }
}

function isOutOfFds(err: unknown): boolean {
  return err instanceof SyscallError && (err.errno === ERRNO.EMFILE || err.errno === ERRNO.ENFILE);
}

/** Tells a client why it cannot be served, then hangs up (owns fd). */
function refuseClient(
  fd: number,
  tables: MessageTables,
  code: DisplayErrorCode,
  message: string,
): void {
  let channel: UnixChannel;
  try {
    channel = new UnixChannel(fd, 4096, 4096);
  } catch {
    closeFd(fd);
    return;
  }
  tellAndClose(channel, tables, code, message);
}

/** wl_display.error on a fresh connection (best effort), then close. */
function tellAndClose(
  channel: UnixChannel,
  tables: MessageTables,
  code: DisplayErrorCode,
  message: string,
): void {
  try {
    const bytes = displayError(tables, 1, code, message);
    if (bytes !== undefined) {
      channel.tx.set(bytes, 0);
      channel.send(0, bytes.length);
    }
  } catch {
    // the client is gone already
  } finally {
    channel.close();
  }
}
