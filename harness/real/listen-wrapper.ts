// A supervisor that owns a compositor's listening socket and runs the compositor as its
// child, as kwin_wayland_wrapper does (and as systemd does with socket activation): the
// wrapper calls listen(), so every client's SO_PEERCRED names the wrapper, a process
// that never maps a buffer, while the child accepts the connections and maps the pools.
// This is the setup that fooled the single-pid E3 oracle (issue 13); the tests and the
// harness build it with this script.
//
//   listen-wrapper --listen PATH -- CMD ARGS…   binds and listens on PATH (PATH.lock held,
//                                               as libwayland does), then runs CMD
//   listen-wrapper -- CMD ARGS…                 takes a socket passed to it the same way
//                                               (LISTEN_FDS: systemd-socket-activate)
//
// CMD gets the socket as fd 3 with LISTEN_FDS=1, LISTEN_FDNAMES=wayland and LISTEN_PID
// set to its own pid (through `sh -c 'LISTEN_PID=$$ exec "$@"'`: a spawn cannot know the
// child's pid before it runs). The wrapper stays CMD's parent, forwards SIGTERM and
// SIGINT to it, and exits with its status (128 + signal when killed).

import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, rmSync } from 'node:fs';
import { constants as os } from 'node:os';
import {
  bindUnix,
  close as closeFd,
  listen,
  tryLockExclusive,
  unixSocket,
} from '../../ffi/libc.js';
import {
  forgetListenFds,
  takePassedWaylandSocket,
} from '../../bridge/service/socket-activation.js';

function usage(message: string): never {
  process.stderr.write(
    `listen-wrapper: ${message}\nusage: listen-wrapper [--listen PATH] -- CMD ARGS...\n`,
  );
  process.exit(2);
}

const argv = process.argv.slice(2);
const dashes = argv.indexOf('--');
if (dashes < 0 || dashes === argv.length - 1) usage('no command');
const own = argv.slice(0, dashes);
const command = argv.slice(dashes + 1);
const path = own[0] === '--listen' ? own[1] : undefined;
if (own.length !== (path === undefined ? 0 : 2)) usage(`unexpected arguments: ${own.join(' ')}`);

let socketFd: number;
let lockFd: number | undefined;
if (path !== undefined) {
  lockFd = openSync(`${path}.lock`, constants.O_CREAT | constants.O_RDWR, 0o660);
  if (!tryLockExclusive(lockFd)) usage(`${path} is in use`);
  rmSync(path, { force: true });
  socketFd = unixSocket();
  bindUnix(socketFd, path);
  listen(socketFd);
} else {
  socketFd = takePassedWaylandSocket() ?? usage('no --listen and no socket passed (LISTEN_FDS)');
}
forgetListenFds(process.env);

// The socket becomes the child's fd 3 (stdio slot 3); the wrapper keeps its own copy,
// as a supervisor that may restart the compositor does.
const child = spawn(
  'sh',
  ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=wayland exec "$@"', 'sh', ...command],
  { stdio: ['ignore', 'inherit', 'inherit', socketFd] },
);
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => child.kill(signal));
}
child.once('error', (error) => usage(`cannot run ${command[0]}: ${error.message}`));
child.once('exit', (code, signal) => {
  closeFd(socketFd);
  if (path !== undefined) rmSync(path, { force: true });
  if (lockFd !== undefined) {
    rmSync(`${path}.lock`, { force: true });
    closeSync(lockFd);
  }
  const signo = signal === null ? 0 : os.signals[signal];
  process.exit(code ?? 128 + signo);
});
