// `grantway proxy` as a separate process, as an operator runs it, optionally under
// `prlimit --nofile=N`: tests that exhaust its fd table must not exhaust their own, and
// a crash must show as an exit, not take the test runner with it. Runs the built CLI
// (`npm test` builds first).

import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { acceptsConnections, sleep } from '../../harness/real/children.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'bridge', 'cli', 'main.js');
const MAX_OUTPUT = 1024 * 1024;

export interface ProxyProcess {
  readonly pid: number;
  readonly listenPath: string;
  /** Its stderr so far (JSON log lines), the newest 1 MiB. */
  output(): string;
  /** Exit code or signal once it has exited, else null. */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | null;
  /** Entries in /proc/PID/fd. */
  fdCount(): number;
  /** SIGTERM, then SIGKILL after 5 s. */
  stop(): Promise<void>;
}

export async function startProxyProcess(options: {
  readonly listenPath: string;
  readonly upstreamPath: string;
  /** RLIMIT_NOFILE for the proxy (prlimit --nofile). */
  readonly nofile?: number;
  readonly args?: readonly string[];
}): Promise<ProxyProcess> {
  const node = [CLI, 'proxy', '--listen', options.listenPath, '--upstream', options.upstreamPath];
  node.push('--log-level', 'warn', ...(options.args ?? []));
  const child: ChildProcess =
    options.nofile === undefined
      ? spawn(process.execPath, node, { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn('prlimit', [`--nofile=${options.nofile}`, process.execPath, ...node], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
  let output = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    output = (output + s).slice(-MAX_OUTPUT);
  });
  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const closed = new Promise<void>((resolve) =>
    child.once('close', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );
  const deadline = Date.now() + 20_000;
  while (!acceptsConnections(options.listenPath)) {
    if (exit !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      await closed;
      throw new Error(`grantway proxy did not start: ${output}`);
    }
    await sleep(20);
  }
  const pid = child.pid!;
  return {
    pid,
    listenPath: options.listenPath,
    output: () => output,
    exited: () => exit,
    fdCount: () => readdirSync(`/proc/${pid}/fd`).length,
    async stop(): Promise<void> {
      if (exit !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await closed;
      clearTimeout(timer);
    },
  };
}
