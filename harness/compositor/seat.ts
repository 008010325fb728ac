// wl_seat with no devices: real clients bind a seat unconditionally, so one exists; it
// announces no capabilities, and asking for a device it never had is the protocol's
// missing_capability error.

import type { Client, Request } from './connection.js';

const MISSING_CAPABILITY = 0;

export function bindSeat(client: Client, id: number, version: number, name: string): void {
  const refuse = (device: string) => (r: Request) => {
    throw r.resource.error(
      MISSING_CAPABILITY,
      `${r.resource.toString()}: get_${device} on a seat that never had a ${device}`,
    );
  };
  const seat = client.createResource(id, 'wl_seat', version, null, {
    requests: {
      get_pointer: refuse('pointer'),
      get_keyboard: refuse('keyboard'),
      get_touch: refuse('touch'),
    },
  });
  seat.send('capabilities', [0]);
  if (version >= 2) seat.send('name', [name]);
}
