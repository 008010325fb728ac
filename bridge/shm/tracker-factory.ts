// What the relay must show a client's ShmTracker, and one tracker per session: the
// relay compiles these interests into its message tables once (message-table.ts), so
// what is not named here is forwarded as bytes, never decoded.

import type {
  MessageInterest,
  ObserverFactory,
  SessionContext,
  SessionObserver,
} from '../relay/observer.js';
import { ShmTracker, type ShmTrackerOptions } from './tracker.js';

/**
 * The messages the tracker must see, by interface. Damage is optional: decoding every
 * damage request costs the relay's fast path, and only copying (grant mode) and
 * recorded traces use it.
 */
export function shmInterest(
  trackDamage: boolean,
  copies = false,
): {
  requests: MessageInterest;
  events: MessageInterest;
  deferred: MessageInterest;
} {
  const surface = ['attach', 'commit', 'destroy', 'set_buffer_scale', 'set_buffer_transform'];
  if (trackDamage) surface.push('damage', 'damage_buffer');
  return {
    requests: {
      wl_shm: ['create_pool'],
      wl_shm_pool: ['create_buffer', 'destroy', 'resize'],
      wl_buffer: ['destroy'],
      wl_surface: surface,
      wp_viewporter: ['get_viewport'],
    },
    events: {
      wl_shm: ['format'],
      wl_buffer: ['release'],
    },
    // A commit that copies costs the loop its damage spans and a queued copy: handled
    // after the other connections ready in the same turn (MessageFlags.Deferred).
    deferred: copies ? { wl_surface: ['commit'] } : {},
  };
}

/** Builds one ShmTracker per session, all feeding the same sink. */
export function shmTrackerFactory(
  options: ShmTrackerOptions,
  onCreated?: (tracker: ShmTracker) => void,
): ObserverFactory {
  const interest = shmInterest(options.trackDamage === true, options.backing !== undefined);
  return {
    requests: interest.requests,
    events: interest.events,
    deferred: interest.deferred,
    create(sessionId: number, context: SessionContext): SessionObserver {
      const tracker = new ShmTracker(sessionId, context, options);
      onCreated?.(tracker);
      return tracker;
    },
  };
}
