// Processes that hold a file the way a compositor might (holder-child.ts), for the
// oracle's tests: started with the file, told to unmap or close it, killed at the end.

import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { close, socketPair } from '../../ffi/libc.js';
import { UnixChannel } from '../../ffi/unix-channel.js';

const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const holderScript = fileURLToPath(new URL('./holder-child.ts', import.meta.url));

export interface Holder {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Sends a command and waits for its answer line. */
  tell(command: 'unmap' | 'close'): Promise<void>;
}

const children = new Set<ChildProcess>();
const strays = new Set<number>();

/** Kills every holder started (and every detached grandchild). */
export function killHolders(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  strays.clear();
}

/** A process holding `fd` as `mode` says (test/support/holder-child.ts). */
export async function holder(mode: 'map' | 'hold' | 'detach', fd: number): Promise<Holder> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  // The file goes over a socket, received close-on-exec: passed as an inherited fd,
  // tsx's own helper process would inherit it too and hold it on.
  const [mine, theirs] = socketPair();
  const child = spawn(process.execPath, ['--import', tsx, holderScript, mode], {
    stdio: ['pipe', 'pipe', 'inherit', theirs],
    env,
  });
  close(theirs);
  const channel = new UnixChannel(mine);
  channel.tx.set([1], 0);
  channel.send(0, 1, [fd]);
  channel.close();
  children.add(child);
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let buffered = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
    for (const wake of waiters.splice(0)) wake();
  });
  const nextLine = async (): Promise<string> => {
    while (lines.length === 0) {
      await new Promise<void>((resolve, reject) => {
        waiters.push(resolve);
        child.once('exit', () => reject(new Error(`holder ${mode} exited`)));
      });
    }
    return lines.shift()!;
  };
  const ready = await nextLine();
  const pid = Number(/^ready ([0-9]+)$/.exec(ready)?.[1]);
  if (mode === 'detach') strays.add(pid);
  return {
    pid,
    child,
    async tell(command) {
      child.stdin!.write(`${command}\n`);
      await nextLine();
    },
  };
}
