// The one place where the bridge decides which Wayland objects exist on a connection.
// Both ends of a session share one id space (the bridge never renumbers), so this map
// mirrors what libwayland keeps on each side: client ids below 0xff000000, server ids
// from 0xff000000 up. The id rules themselves are the protocol core's
// (bridge/protocol/ids.ts), shared with the embedded compositor.

import {
  DISPLAY_ID,
  SERVER_ID_BASE,
  clientNewIdProblem,
  isServerId,
  serverNewIdProblem,
} from '../protocol/ids.js';
import { ClientProtocolError, DisplayErrorCode, UpstreamProtocolError } from './errors.js';
import type { InterfaceTable } from './message-table.js';

export interface WaylandObject {
  readonly id: number;
  readonly table: InterfaceTable;
  readonly version: number;
  /**
   * False once a destructor was sent (by either side). The object is then a zombie:
   * it keeps its interface so that messages already in flight towards or from it
   * (and the fds they carry) can still be parsed, until the compositor's delete_id
   * (client ids) or a new object with the same id (server ids) retires it.
   */
  alive: boolean;
}

/** How the relay words each id problem in its wl_display.error (after `invalid new id N`). */
const CLIENT_ID_PROBLEM = {
  'null-or-server-range': '',
  'out-of-sequence': ': out of sequence',
  'in-use': ': in use',
} as const;

export class ObjectMap {
  // Dense arrays: libwayland hands out the lowest free id, so both ranges stay compact.
  private readonly clientIds: (WaylandObject | undefined)[] = [];
  private readonly serverIds: (WaylandObject | undefined)[] = [];
  private liveCount = 0;

  constructor(display: InterfaceTable) {
    this.clientIds[1] = { id: 1, table: display, version: 1, alive: true };
    this.liveCount = 1;
  }

  /** Live objects (zombies excluded). */
  get size(): number {
    return this.liveCount;
  }

  lookup(id: number): WaylandObject | undefined {
    return id < SERVER_ID_BASE ? this.clientIds[id] : this.serverIds[id - SERVER_ID_BASE];
  }

  /** A new_id sent by the client in a request. */
  createFromClient(id: number, table: InterfaceTable, version: number): WaylandObject {
    // The array's length is one past the highest id ever used (entries are cleared, never
    // removed): no gaps also keeps the array dense against hostile ids.
    const problem = clientNewIdProblem(id, this.clientIds.length, this.clientIds[id] !== undefined);
    if (problem !== undefined) {
      throw new ClientProtocolError(
        DISPLAY_ID,
        DisplayErrorCode.invalidObject,
        `invalid new id ${id}${CLIENT_ID_PROBLEM[problem]}`,
      );
    }
    const obj: WaylandObject = { id, table, version, alive: true };
    this.clientIds[id] = obj;
    this.liveCount++;
    return obj;
  }

  /** A new_id sent by the compositor in an event. */
  createFromServer(id: number, table: InterfaceTable, version: number): WaylandObject {
    const problem = serverNewIdProblem(id, this.serverIds[id - SERVER_ID_BASE]?.alive === true);
    if (problem === 'client-range') {
      throw new UpstreamProtocolError(`compositor created object with client-range id ${id}`);
    }
    if (problem === 'in-use') {
      throw new UpstreamProtocolError(`compositor reused live id ${id}`);
    }
    const obj: WaylandObject = { id, table, version, alive: true };
    this.serverIds[id - SERVER_ID_BASE] = obj;
    this.liveCount++;
    return obj;
  }

  /** A destructor went by: the object becomes a zombie (see WaylandObject.alive). */
  markDestroyed(obj: WaylandObject): void {
    if (!obj.alive) return;
    obj.alive = false;
    this.liveCount--;
  }

  /** wl_display.delete_id: the compositor has retired a client id; it may be reused. */
  confirmDeleted(id: number): void {
    if (isServerId(id) || id === DISPLAY_ID) {
      throw new UpstreamProtocolError(`delete_id for id ${id}, which the client does not own`);
    }
    const obj = this.clientIds[id];
    if (obj === undefined) return;
    if (obj.alive) {
      // The compositor destroyed it on its own (e.g. a wl_callback after done).
      this.liveCount--;
    }
    this.clientIds[id] = undefined;
  }

  /** Every object still known, live or zombie. */
  *all(): IterableIterator<WaylandObject> {
    for (const obj of this.clientIds) if (obj !== undefined) yield obj;
    for (const obj of this.serverIds) if (obj !== undefined) yield obj;
  }
}
