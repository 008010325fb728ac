// The bridge: one listening socket, and for every client that connects a Session with
// its own fresh connection to the compositor. Owns the sessions' lifetimes and nothing
// else; what happens to messages is the sessions' business.

import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { SyscallError } from '../../ffi/errors.js';
import { connectUnix, peerCredentials } from '../../ffi/libc.js';
import { UnixChannel } from '../../ffi/unix-channel.js';
import type { ProtocolRegistry } from '../protocol/registry.js';
import { encodeMessage } from '../wire/encode.js';
import { DisplayErrorCode, UpstreamUnavailableError } from './errors.js';
import { type ClientLimits, channelCapacities, resolveClientLimits } from './limits.js';
import { WaylandListener } from './listener.js';
import { MessageTables } from './message-table.js';
import type { ObserverFactory } from './observer.js';
import { Session, type TraceSink } from './session.js';

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
}

export class Bridge {
  private readonly sessions = new Set<Session>();
  private readonly tables: MessageTables;
  private readonly listener: WaylandListener;
  readonly limits: ClientLimits;
  /** Socket buffer sizes, derived from limits.maxBufferedBytes. */
  private readonly capacities: { rx: number; tx: number };
  private nextSessionId = 1;
  private closed = false;
  private closedWaiters: (() => void)[] = [];

  private constructor(
    private readonly options: BridgeOptions,
    limits: ClientLimits,
  ) {
    this.tables = new MessageTables(options.registry, options.observe);
    this.limits = limits;
    this.capacities = channelCapacities(limits);
    this.listener = WaylandListener.open(options.listenPath, (fd) => this.accept(fd));
  }

  /** Validates the limits, checks the upstream socket exists, then listens. */
  static start(options: BridgeOptions): Bridge {
    const limits = resolveClientLimits(options.limits);
    checkUpstream(options.upstreamPath);
    const bridge = new Bridge(options, limits);
    options.log.info(
      { listen: options.listenPath, upstream: options.upstreamPath, limits },
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

  /** Each live session's counters (Session.stats), for monitoring and tests. */
  sessionStats(): ({ id: number } & ReturnType<Session['stats']>)[] {
    return [...this.sessions].map((s) => ({ id: s.id, ...s.stats() }));
  }

  /** Resolves when no session is left (after the last client leaves). */
  whenIdle(): Promise<void> {
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  private accept(clientFd: number): void {
    let upstreamFd: number;
    try {
      upstreamFd = connectUnix(this.options.upstreamPath);
    } catch (err) {
      const reason = err instanceof SyscallError ? err.errnoName : String(err);
      this.options.log.error(
        { upstream: this.options.upstreamPath, reason },
        'compositor unreachable; client refused',
      );
      refuseClient(clientFd, this.tables, `grantway: compositor unreachable (${reason})`);
      return;
    }
    const id = this.nextSessionId++;
    const observer = this.options.observe?.create(id, {
      upstreamPid: peerCredentials(upstreamFd).pid,
      clientPid: peerCredentials(clientFd).pid,
      limits: this.limits,
    });
    const { rx, tx } = this.capacities;
    const client = new UnixChannel(clientFd, rx, tx);
    const upstream = new UnixChannel(upstreamFd, rx, tx);
    const session = new Session(client, upstream, {
      id,
      tables: this.tables,
      log: this.options.log,
      limits: this.limits,
      trace: this.options.trace,
      observer,
      onClosed: (s) => this.onSessionClosed(s),
    });
    this.sessions.add(session);
    this.options.log.debug({ session: id }, 'client connected');
  }

  private onSessionClosed(session: Session): void {
    this.sessions.delete(session);
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
    for (const session of [...this.sessions]) session.close('bridge shutting down');
  }
}

function checkUpstream(path: string): void {
  let isSocket: boolean;
  try {
    isSocket = statSync(path).isSocket();
  } catch {
    throw new UpstreamUnavailableError(path, 'no such socket');
  }
  if (!isSocket) throw new UpstreamUnavailableError(path, 'not a socket');
}

/** Tells a client why it cannot be served, then hangs up. */
function refuseClient(fd: number, tables: MessageTables, message: string): void {
  const channel = new UnixChannel(fd, 4096, 4096);
  try {
    const spec = tables.display().events[0]?.spec;
    if (spec !== undefined) {
      const { bytes } = encodeMessage(1, 0, spec, [1, DisplayErrorCode.implementation, message]);
      channel.tx.set(bytes, 0);
      channel.send(0, bytes.length);
    }
  } catch {
    // the client is gone already
  } finally {
    channel.close();
  }
}
