// The object-id rules of the Wayland wire protocol, as libwayland's wl_map enforces them
// on both sides, written once for the relay's object map (bridge/relay/object-map.ts)
// and the embedded compositor (harness/compositor/connection.ts). Each side keeps its
// own table and chooses its own error (the relay answers as libwayland-server's
// wl_map_reserve_new, the compositor as its wl_closure_lookup_objects); the rule is here.
//
// Ids: 0 is null; the client chooses ids from 1 (wl_display) up to 0xfeffffff, the
// compositor from SERVER_ID_BASE (0xff000000) up. A client's new id may leave no gap:
// it is at most one past the highest id it has ever used, and not in use.

import { SERVER_ID_BASE } from '../wire/constants.js';

export { SERVER_ID_BASE };

/** wl_display's id, fixed on every connection. */
export const DISPLAY_ID = 1;

/** An id the compositor chose (events' new_id). */
export const isServerId = (id: number): boolean => id >= SERVER_ID_BASE;

/** Why a client may not create an object with this id. */
export type ClientNewIdProblem = 'null-or-server-range' | 'out-of-sequence' | 'in-use';

/**
 * undefined when the client may create an object with `id`. `limit` is one past the
 * highest client id ever used on the connection; `inUse` whether `id` names an object
 * (live, or a zombie whose delete_id has not gone by).
 */
export function clientNewIdProblem(
  id: number,
  limit: number,
  inUse: boolean,
): ClientNewIdProblem | undefined {
  if (id === 0 || isServerId(id)) return 'null-or-server-range';
  if (id > limit) return 'out-of-sequence';
  if (inUse) return 'in-use';
  return undefined;
}

/** Why the compositor may not create an object with this id (its previous one is live). */
export type ServerNewIdProblem = 'client-range' | 'in-use';

export function serverNewIdProblem(id: number, liveInUse: boolean): ServerNewIdProblem | undefined {
  if (!isServerId(id)) return 'client-range';
  if (liveInUse) return 'in-use';
  return undefined;
}
