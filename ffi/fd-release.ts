// Closing an fd a peer sent, without letting that peer's filesystem stall the event loop.
// close(2) of a file on FUSE sends FLUSH to the FUSE server and waits for its answer —
// uninterruptibly, so not even SIGKILL ends the wait — and a hostile server never
// answers. An fd whose close is answered by the kernel alone (memory files, sockets,
// pipes, files on local filesystems: see fd-kind.ts) is closed at once; any other is
// handed to a closer thread, so only that thread waits.
//
// A stuck closer holds its fd and its thread until the server answers or dies. At most
// MAX_CLOSERS threads exist; while all are busy, further fds wait in a queue (they stay
// open: held fds, not a stalled loop).

import { Worker } from 'node:worker_threads';
import { answeredLocally, fdKind } from './fd-kind.js';
import { close } from './libc.js';

const MAX_CLOSERS = 4;

/** Runs in the closer thread: one close(2) per message, answered when it returns. */
const CLOSER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { closeSync } = require('node:fs');
parentPort.on('message', (fd) => {
  try {
    closeSync(fd);
  } catch {
    // EIO, ENOTCONN…: the fd is released anyway (close(2) never fails to release it)
  }
  parentPort.postMessage(fd);
});
`;

interface Closer {
  readonly worker: Worker;
  /** The fd it is closing, if any. */
  busy: number | undefined;
  /** The thread started: from then on a busy fd may be closed even if it dies. */
  online: boolean;
}

const closers: Closer[] = [];
const queue: number[] = [];
let retryTimer: NodeJS.Timeout | undefined;

/**
 * Closes `fd`, which came from a peer and is no longer needed. Returns at once: the
 * close happens now, or on a closer thread when it might wait for the file's server.
 */
export function releaseFd(fd: number): void {
  let local: boolean;
  try {
    local = answeredLocally(fdKind(fd));
  } catch {
    local = false; // /proc unreadable (EMFILE…): assume the worst
  }
  if (local) {
    close(fd);
    return;
  }
  queue.push(fd);
  pump();
}

function pump(): void {
  while (queue.length > 0) {
    const closer = closers.find((c) => c.busy === undefined) ?? startCloser();
    if (closer === undefined) return; // all busy (or none can start): the queue waits
    const fd = queue.shift()!;
    closer.busy = fd;
    closer.worker.postMessage(fd);
  }
}

function startCloser(): Closer | undefined {
  if (closers.length >= MAX_CLOSERS) return undefined;
  let worker: Worker;
  try {
    worker = new Worker(CLOSER_SOURCE, {
      eval: true,
      // The fds it closes were not opened by it: no tracking, no warning.
      trackUnmanagedFds: false,
      resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
    });
  } catch {
    retryLater();
    return undefined;
  }
  const closer: Closer = { worker, busy: undefined, online: false };
  worker.on('online', () => (closer.online = true));
  worker.on('message', () => {
    closer.busy = undefined;
    pump();
  });
  // A thread that could not start (EMFILE, out of memory): its fd goes back to the queue.
  worker.on('error', () => forget(closer));
  worker.on('exit', () => forget(closer));
  // Last: a 'message' listener added after unref() would ref the thread again.
  worker.unref(); // a closer never keeps the process alive
  closers.push(closer);
  return closer;
}

function forget(closer: Closer): void {
  const index = closers.indexOf(closer);
  if (index < 0) return;
  closers.splice(index, 1);
  // Only a thread that never ran certainly left its fd open; closing an fd twice could
  // close an unrelated one that took its number.
  if (closer.busy !== undefined && !closer.online) queue.unshift(closer.busy);
  closer.busy = undefined;
  retryLater();
}

function retryLater(): void {
  if (retryTimer !== undefined || queue.length === 0) return;
  retryTimer = setTimeout(() => {
    retryTimer = undefined;
    pump();
  }, 1000);
  retryTimer.unref();
}
