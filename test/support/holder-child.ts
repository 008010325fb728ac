// A process that holds a file the way a compositor might, for the oracle's tests. Its
// fd 3 is a unix socket on which the file arrives (as a compositor receives a pool: with
// close-on-exec, so nothing it runs inherits it — tsx's own helper process included);
// then, by mode, it maps the file and closes the fd (as libwayland-server does), keeps
// only the fd, or hands it on to a grandchild in a new session that maps it (a helper
// that double-forked away; it stays until killed) and exits. It says "ready PID" on
// stdout once in place, then obeys stdin lines: "unmap" (munmap, says "unmapped"),
// "close" (closes the fd, says "closed"), "exit"; it exits when stdin ends.
//
//   node --import tsx holder-child.ts map|hold|detach

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { close, mmap, munmap, PROT_READ, socketPair, waitFd } from '../../ffi/libc.js';
import { UnixChannel } from '../../ffi/unix-channel.js';

const mode = process.argv[2];
const LENGTH = 4096;

/** The one fd that arrives on fd 3 (blocking until it does). */
function receiveFile(): number {
  const channel = new UnixChannel(3);
  const fds: number[] = [];
  while (fds.length === 0) {
    waitFd(3, true, false, 10_000);
    if (channel.recv(0, 16, fds) === 'eof') throw new Error('holder-child: no file arrived');
  }
  channel.close();
  return fds[0]!;
}

let file = receiveFile();

if (mode === 'detach') {
  const [mine, theirs] = socketPair();
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, script, 'map-until-killed'], {
    stdio: ['ignore', 'pipe', 'inherit', theirs],
    detached: true, // setsid: another session and process group
  });
  close(theirs);
  const channel = new UnixChannel(mine);
  channel.tx.set([1], 0);
  channel.send(0, 1, [file]);
  channel.close();
  close(file);
  child.stdout!.setEncoding('utf8').once('data', (line: string) => {
    process.stdout.write(line); // "ready <grandchild pid>"
    process.exit(0);
  });
} else {
  let ptr: bigint | undefined;
  if (mode === 'map' || mode === 'map-until-killed') {
    ptr = mmap(file, LENGTH, PROT_READ);
    close(file);
    file = -1;
  } else if (mode !== 'hold') {
    process.stderr.write(`holder-child: unknown mode ${mode}\n`);
    process.exit(2);
  }
  process.stdout.write(`ready ${process.pid}\n`);
  if (mode === 'map-until-killed') setInterval(() => undefined, 1 << 30);
  else {
    createInterface({ input: process.stdin })
      .on('close', () => process.exit(0))
      .on('line', (line) => {
        if (line === 'unmap' && ptr !== undefined) {
          munmap(ptr, LENGTH);
          ptr = undefined;
          process.stdout.write('unmapped\n');
        } else if (line === 'close' && file >= 0) {
          close(file);
          file = -1;
          process.stdout.write('closed\n');
        } else if (line === 'exit') process.exit(0);
      });
  }
}
