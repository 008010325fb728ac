// A floor for the benches, beside the C relay (c-relay.c): the same 70 lines in Node,
// on the very primitives grantway's relay uses (a libuv poll handle per fd through
// ffi/fd-watch.ts, recvmsg and sendmsg through ffi/unix-channel.ts), with no parsing at
// all. What grantway costs beyond this is the price of understanding the protocol; what
// this costs beyond the C relay is the price of Node itself (its event loop, koffi).
// Usage: node dist/scripts/bench/node-relay.js LISTEN_PATH UPSTREAM_PATH

import { type FdWatch, watchFd } from '../../ffi/fd-watch.js';
import {
  accept,
  bindUnix,
  close,
  connectUnix,
  listen,
  setNonBlocking,
  unixSocket,
} from '../../ffi/libc.js';
import { UnixChannel } from '../../ffi/unix-channel.js';

const [listenPath, upstreamPath] = process.argv.slice(2);
if (listenPath === undefined || upstreamPath === undefined) {
  process.stderr.write('usage: node-relay LISTEN_PATH UPSTREAM_PATH\n');
  process.exit(2);
}

/** One direction of a pair: bytes and fds from `from` to `to`. */
interface Direction {
  readonly from: UnixChannel;
  readonly to: UnixChannel;
  /** What `to` did not take yet (reading `from` waits until it has). */
  pending: Uint8Array | undefined;
}

/** Moves what `from` has to `to`; false once `from` is finished. */
function pump(d: Direction, fds: number[]): boolean {
  while (d.pending === undefined) {
    const got = d.from.recv(0, d.from.rx.length, fds);
    if (got === 'again') return true;
    if (got === 'eof') return false;
    let sent: number | 'again';
    if (fds.length === 0) sent = d.to.sendFromRx(d.from, 0, got);
    else {
      d.to.tx.set(d.from.rx.subarray(0, got)); // fds go with the bytes (rare: new pools)
      sent = d.to.send(0, got, fds);
      if (sent !== 'again') for (const fd of fds.splice(0)) close(fd); // the peer has its copies
    }
    const n = sent === 'again' ? 0 : sent;
    if (n < got) d.pending = d.from.rx.slice(n, got);
  }
  return true;
}

/** Sends what waited; true once nothing does. */
function drain(d: Direction, fds: number[]): boolean {
  if (d.pending === undefined) return true;
  d.to.tx.set(d.pending);
  const sent = d.to.send(0, d.pending.length, fds);
  if (sent !== 'again' && fds.length > 0) for (const fd of fds.splice(0)) close(fd);
  const n = sent === 'again' ? 0 : sent;
  d.pending = n === d.pending.length ? undefined : d.pending.subarray(n);
  return d.pending === undefined;
}

function pair(clientFd: number): void {
  const client = new UnixChannel(clientFd);
  const upstream = new UnixChannel(connectUnix(upstreamPath!));
  const requests: Direction = { from: client, to: upstream, pending: undefined };
  const events: Direction = { from: upstream, to: client, pending: undefined };
  const requestFds: number[] = [];
  const eventFds: number[] = [];
  const watches: FdWatch[] = [];
  const end = (): void => {
    for (const w of watches.splice(0)) w.close();
    for (const fd of [...requestFds, ...eventFds]) close(fd);
    client.close();
    upstream.close();
  };
  // Each socket's watch reads its own direction and writes the other's leftovers.
  const onReady =
    (mine: Direction, theirs: Direction, fds: number[], theirFds: number[]) =>
    (ready: { readable: boolean; writable: boolean; hangup: boolean }): void => {
      if (ready.writable) drain(theirs, theirFds);
      if ((ready.readable || ready.hangup) && !pump(mine, fds)) return end();
      clientWatch.setInterest(requests.pending === undefined, events.pending !== undefined);
      upstreamWatch.setInterest(events.pending === undefined, requests.pending !== undefined);
    };
  const clientWatch = watchFd(client.fd, onReady(requests, events, requestFds, eventFds));
  const upstreamWatch = watchFd(upstream.fd, onReady(events, requests, eventFds, requestFds));
  watches.push(clientWatch, upstreamWatch);
}

const listener = unixSocket();
bindUnix(listener, listenPath);
listen(listener);
setNonBlocking(listener);
watchFd(listener, () => {
  for (let fd = accept(listener); fd !== null; fd = accept(listener)) pair(fd);
});
