// The relay's one extension point: a per-session observer that is shown the messages
// it asked for, decoded, before they are forwarded. The shm lifetime tracker (and grant
// mode) are observers; the relay itself stays ignorant of what they do.

import type { ArgValue } from '../wire/values.js';
import type { ClientLimits } from './limits.js';
import type { WaylandObject } from './object-map.js';

/** Message names an observer wants decoded, by interface. */
export type MessageInterest = Readonly<Record<string, readonly string[]>>;

/**
 * A message shown to an observer. Valid only during onMessage: the relay reuses the
 * object and its args array for the next fixed-size message (no allocation per message
 * on the fast path), so an observer copies what it keeps.
 */
export interface ObservedMessage {
  readonly fromClient: boolean;
  /** The sender object (requests) or the receiving object (events). */
  readonly object: WaylandObject;
  readonly name: string;
  readonly args: readonly ArgValue[];
  /** Monotonic time the bridge handled the message, in ms (performance.now()). */
  readonly time: number;
}

/** What an observer may change about a message before it is forwarded. */
export interface MessageRewrite {
  /**
   * Replaces the message's fds, in order. The observer takes ownership of the original
   * fds (it must close them when done); the relay sends and then closes the new ones.
   */
  readonly fds?: readonly number[];
  /**
   * Work the message must wait for (grant mode's copy of a committed buffer): the relay
   * holds this message, and everything after it in the same direction, until the promise
   * settles; other sessions go on meanwhile. A rejection ends the session like an error
   * thrown from onMessage.
   */
  readonly ready?: Promise<void>;
}

export interface SessionObserver {
  /**
   * Called for each message named in the observer factory's interests, after the relay
   * has updated its object map and before the message is forwarded. May throw a
   * ClientProtocolError to reject the message (the client gets wl_display.error).
   */
  onMessage(message: ObservedMessage): MessageRewrite | undefined;
  /**
   * If present, called instead of onMessage for the observed wl_surface.damage
   * (inBufferCoordinates false) and damage_buffer (true) requests, with their four
   * arguments as sent: a client may send thousands per frame, and this path builds no
   * message for them. An observer without it sees them through onMessage.
   */
  onDamage?(
    surface: WaylandObject,
    inBufferCoordinates: boolean,
    x: number,
    y: number,
    width: number,
    height: number,
  ): void;
  /** The compositor retired a client object id (wl_display.delete_id). */
  onDeleted(object: WaylandObject, time: number): void;
  /** The session ended (either side closed); release everything. */
  onClosed(time: number): void;
  /**
   * Fds the observer holds for this client (the tracker's pool dups). The relay adds
   * them to its own queued fds to enforce the client's maxFds limit.
   */
  heldFds?(): number;
}

export interface ObserverFactory {
  readonly requests: MessageInterest;
  readonly events: MessageInterest;
  /**
   * Observed requests whose handling is costly work on the event loop (grant mode's
   * commits). The relay handles each only after reading every other connection that is
   * ready in the same turn, so a burst of them does not delay another client's sync.
   */
  readonly deferred?: MessageInterest;
  create(sessionId: number, context: SessionContext): SessionObserver;
}

/** What an observer may know about its session's peers. */
export interface SessionContext {
  /** The compositor's pid from SO_PEERCRED on the upstream socket (0: not visible). */
  readonly upstreamPid: number;
  /** The client's pid from SO_PEERCRED (0: not visible). */
  readonly clientPid: number;
  /** The client's limits, for what the observer creates (default: DEFAULT_CLIENT_LIMITS). */
  readonly limits?: ClientLimits;
}
