// fd readiness on Node's own event loop: a libuv uv_poll_t per fd on the main loop, no
// watcher thread, no semaphore hand-off per event (the `epoll` package pays a thread
// switch per event, which doubles the bridge's added latency).
//
// libuv's poll API is called through koffi from the symbols the node binary exports to
// addons (uv_poll_init_socket, uv_poll_start…), with one registered koffi callback for
// every watch. koffi's own wrapper (koffi.node.poll) builds a fresh object with three
// named properties for every event through N-API, which cost ~6 700 instructions per
// wake-up (callgrind, a socketpair ping-pong): more than the rest of a relay hop. The
// direct callback gets three integers. Worker threads have their own loops, which these
// symbols cannot name: there, koffi.node.poll is used as before.

import { isMainThread } from 'node:worker_threads';
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

/**
 * Watches fd (readable at first). `onReady` gets one readiness object per watch, updated
 * in place before each call: read it during the call, never keep it.
 */
export function watchFd(fd: number, onReady: (ready: FdReadiness) => void): FdWatch {
  return isMainThread ? new UvPollWatch(fd, onReady) : koffiPollWatch(fd, onReady);
}

// uv_poll_event bits (uv.h).
const UV_READABLE = 1;
const UV_WRITABLE = 2;
const UV_DISCONNECT = 4;
const UV_POLL_HANDLE = 8; // uv_handle_type UV_POLL

type Fn<A extends unknown[], R> = (...args: A) => R;
interface Uv {
  readonly loop: bigint;
  readonly handleSize: number;
  readonly init: Fn<[bigint, number, number], number>;
  readonly start: Fn<[number, number, unknown], number>;
  readonly stop: Fn<[number], number>;
  readonly close: Fn<[number, unknown], void>;
  readonly ref: Fn<[number], void>;
  readonly unref: Fn<[number], void>;
  readonly malloc: Fn<[number], number>;
  readonly onPoll: unknown;
  readonly onClose: unknown;
}

/** Live watches by handle address: the one callback finds its watch here. */
const watches = new Map<number, UvPollWatch>();
let uv: Uv | undefined;

/** Binds libuv (once): handles are plain native addresses, passed as numbers. */
function bindUv(): Uv {
  if (uv !== undefined) return uv;
  const self = koffi.load(null);
  const libc = koffi.load('libc.so.6');
  const PollCb = koffi.proto('void GrantwayUvPollCb(uintptr_t handle, int status, int events)');
  const CloseCb = koffi.proto('void GrantwayUvCloseCb(uintptr_t handle)');
  const free = libc.func('void free(uintptr_t ptr)') as Fn<[number], void>;
  const loop = (self.func('void *uv_default_loop(void)') as Fn<[], bigint>)();
  uv = {
    loop,
    handleSize: Number(
      (self.func('size_t uv_handle_size(int type)') as Fn<[number], number>)(UV_POLL_HANDLE),
    ),
    init: self.func('int uv_poll_init_socket(void *loop, uintptr_t handle, int fd)') as Uv['init'],
    start: self.func(
      'int uv_poll_start(uintptr_t handle, int events, GrantwayUvPollCb *cb)',
    ) as Uv['start'],
    stop: self.func('int uv_poll_stop(uintptr_t handle)') as Uv['stop'],
    close: self.func('void uv_close(uintptr_t handle, GrantwayUvCloseCb *cb)') as Uv['close'],
    ref: self.func('void uv_ref(uintptr_t handle)') as Uv['ref'],
    unref: self.func('void uv_unref(uintptr_t handle)') as Uv['unref'],
    malloc: libc.func('uintptr_t malloc(size_t size)') as Uv['malloc'],
    // Registered for the life of the process: two of koffi's 8192 callback slots.
    onPoll: koffi.register(
      (handle: number, status: number, events: number) =>
        watches.get(handle)?.dispatch(status, events),
      koffi.pointer(PollCb),
    ),
    // libuv is done with the handle's memory only once uv_close calls back.
    onClose: koffi.register((handle: number) => free(handle), koffi.pointer(CloseCb)),
  };
  return uv;
}

class UvPollWatch implements FdWatch, FdReadiness {
  readable = false;
  writable = false;
  hangup = false;
  private readonly uv: Uv;
  private readonly handle: number;
  /** The events asked of libuv (0: stopped). */
  private events = UV_READABLE | UV_DISCONNECT;
  private closed = false;

  constructor(
    fd: number,
    private readonly onReady: (ready: FdReadiness) => void,
  ) {
    this.uv = bindUv();
    this.handle = this.uv.malloc(this.uv.handleSize);
    if (this.handle === 0) throw new Error('out of memory for a poll handle');
    const ret = this.uv.init(this.uv.loop, this.handle, fd);
    if (ret !== 0) {
      this.uv.close(this.handle, this.uv.onClose);
      throw new Error(`uv_poll_init_socket(${fd}) failed: ${ret}`);
    }
    watches.set(this.handle, this);
    this.uv.start(this.handle, this.events, this.uv.onPoll);
  }

  /**
   * From libuv. A negative status (POLLERR: a socket whose peer reset it, with sk_err
   * set) is reported as a hangup so the owner reads, sees the failure, and tears down;
   * libuv stops the handle before it calls back, so the watch is started again with the
   * interest the owner has after its read: the read consumes the error, and the data
   * still queued (a compositor's last words) must still be reported.
   *
   * An exception must not leave a koffi callback: koffi keeps it pending and throws it
   * out of whatever FFI call runs next (another session's recvmsg, a close…), far from
   * its cause. It is rethrown on a fresh tick instead, so it reaches
   * 'uncaughtException' like an exception from any other Node callback.
   */
  dispatch(status: number, events: number): void {
    if (this.closed) return;
    try {
      if (status < 0) {
        this.readable = true;
        this.writable = false;
        this.hangup = true;
        try {
          this.onReady(this);
        } finally {
          if (!this.closed && this.events !== 0)
            this.uv.start(this.handle, this.events, this.uv.onPoll);
        }
        return;
      }
      this.readable = (events & UV_READABLE) !== 0;
      this.writable = (events & UV_WRITABLE) !== 0;
      this.hangup = (events & UV_DISCONNECT) !== 0;
      this.onReady(this);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  setInterest(r: boolean, w: boolean): void {
    if (this.closed) return;
    const events = r || w ? (r ? UV_READABLE : 0) | (w ? UV_WRITABLE : 0) | UV_DISCONNECT : 0;
    if (events === this.events) return;
    this.events = events;
    if (events === 0) this.uv.stop(this.handle);
    else this.uv.start(this.handle, events, this.uv.onPoll);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    watches.delete(this.handle);
    this.uv.close(this.handle, this.uv.onClose);
  }

  setKeepsAlive(keepsAlive: boolean): void {
    if (this.closed) return;
    if (keepsAlive) this.uv.ref(this.handle);
    else this.uv.unref(this.handle);
  }
}

type PollHandle = ReturnType<typeof koffi.node.poll>;
interface PollEvents {
  readable: boolean;
  writable: boolean;
  disconnect: boolean;
}

// libuv handles must stay reachable from JS while they are active: a collected handle
// stops delivering events without a word. Every live koffi watch is kept here until closed.
const liveHandles = new Set<PollHandle>();

/** The same watch through koffi.node.poll, for worker threads (see the top of the file). */
function koffiPollWatch(fd: number, onReady: (ready: FdReadiness) => void): FdWatch {
  let readable = true;
  let writable = false;
  let closed = false;
  // koffi calls back with (status, events) although its typings declare (events).
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
