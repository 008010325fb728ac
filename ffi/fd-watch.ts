// fd readiness on Node's own event loop. koffi's node.poll is a libuv uv_poll_t on the
// main loop: no watcher thread, no semaphore hand-off per event (the `epoll` package
// pays a thread switch per event, which doubles the bridge's added latency).

import koffi from 'koffi';

export interface FdReadiness {
  readonly readable: boolean;
  readonly writable: boolean;
  /** Peer hung up (POLLRDHUP/POLLHUP); data may still be readable. */
  readonly hangup: boolean;
}

export interface FdWatch {
  /** Changes which readiness wakes the callback; both false pauses the watch. */
  setInterest(readable: boolean, writable: boolean): void;
  /** Stops watching. The fd itself stays open: closing it is the owner's job. */
  close(): void;
  /** Whether this watch keeps the process alive (default true). */
  setKeepsAlive(keepsAlive: boolean): void;
}

type PollHandle = ReturnType<typeof koffi.node.poll>;
interface PollEvents {
  readable: boolean;
  writable: boolean;
  disconnect: boolean;
}

// libuv handles must stay reachable from JS while they are active: a collected handle
// stops delivering events without a word. Every live watch is kept here until closed.
const liveHandles = new Set<PollHandle>();

export function watchFd(fd: number, onReady: (ready: FdReadiness) => void): FdWatch {
  let readable = true;
  let writable = false;
  let closed = false;
  // koffi calls back with (status, events) although its typings declare (events): a
  // negative libuv status means the fd is in error, reported here as a hangup so the
  // owner reads, sees the failure, and tears down.
  // An exception must not leave a koffi callback: koffi keeps it pending and throws it
  // out of whatever FFI call runs next (another session's recvmsg, a close…), far from
  // its cause. It is rethrown on a fresh tick instead, so it reaches 'uncaughtException'
  // like an exception from any other Node callback.
  // On an error (POLLERR: a socket whose peer reset it, with sk_err set) libuv stops the
  // handle before it calls back, so the watch is started again with the interest the
  // owner has after its read: the read consumes the error, and the data still queued
  // (a compositor's last words) must still be reported.
  const onPoll = (status: number, ev: PollEvents | undefined): void => {
    if (closed) return;
    try {
      if (status < 0 || ev === undefined) {
        try {
          onReady({ readable: true, writable: false, hangup: true });
        } finally {
          if (!closed && (readable || writable))
            handle.start({ readable, writable, disconnect: true }, callback);
        }
        return;
      }
      onReady({ readable: ev.readable, writable: ev.writable, hangup: ev.disconnect });
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  };
  const callback = onPoll as unknown as (ev: PollEvents) => void;
  const handle = koffi.node.poll(fd, { readable: true, disconnect: true }, callback);
  liveHandles.add(handle);
  return {
    setInterest(r: boolean, w: boolean): void {
      if (closed || (r === readable && w === writable)) return;
      readable = r;
      writable = w;
      if (!r && !w) handle.stop();
      else handle.start({ readable: r, writable: w, disconnect: true }, callback);
    },
    close(): void {
      if (closed) return;
      closed = true;
      handle.close();
      liveHandles.delete(handle);
    },
    setKeepsAlive(keepsAlive: boolean): void {
      if (keepsAlive) handle.ref();
      else handle.unref();
    },
  };
}
