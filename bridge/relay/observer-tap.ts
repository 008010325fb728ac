// An observer factory wrapped so that someone else sees requests too: the demo learns
// each window's title (xdg_toplevel.set_title), a test sees the order in which the
// relay handled syncs and commits. The wrapped factory's observers get exactly what
// they asked for, the damage fast path and deferred requests included; the tap sees
// every request shown to the wrapper, its own extra ones and the wrapped factory's
// (damage on the fast path excepted), before the wrapped observer does.

import type {
  MessageInterest,
  ObservedMessage,
  ObserverFactory,
  SessionObserver,
} from './observer.js';

/** Sees one request of a session (valid only during the call, like ObservedMessage). */
export type RequestTap = (sessionId: number, message: ObservedMessage) => void;

export function tapRequests(
  inner: ObserverFactory,
  extra: MessageInterest,
  tap: RequestTap,
): ObserverFactory {
  const requests: Record<string, readonly string[]> = { ...inner.requests };
  for (const [iface, names] of Object.entries(extra))
    requests[iface] = [...new Set([...(requests[iface] ?? []), ...names])];
  const innerWants = (m: ObservedMessage): boolean =>
    (m.fromClient ? inner.requests : inner.events)[m.object.table.name]?.includes(m.name) === true;
  return {
    requests,
    events: inner.events,
    ...(inner.deferred === undefined ? {} : { deferred: inner.deferred }),
    create: (sessionId, context): SessionObserver => {
      const observer = inner.create(sessionId, context);
      return {
        onMessage: (m) => {
          if (m.fromClient) tap(sessionId, m);
          return innerWants(m) ? observer.onMessage(m) : undefined;
        },
        ...(observer.onDamage === undefined
          ? {}
          : { onDamage: (...args) => observer.onDamage!(...args) }),
        onDeleted: (object, time) => observer.onDeleted(object, time),
        onClosed: (time) => observer.onClosed(time),
        ...(observer.heldFds === undefined ? {} : { heldFds: () => observer.heldFds!() }),
      };
    },
  };
}
