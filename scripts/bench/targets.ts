// The paths a benchmark client can take to the compositor, each started as the separate
// process(es) it is in real use: grantway proxy (either mode), waypipe client + server,
// a plain C relay built at bench time (the floor), and the same relay in Node on
// grantway's own FFI (node-relay.ts: Node's share of the floor). Each target says which pids do
// its work, so a bench can read their CPU time and memory from /proc.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { acceptsConnections, sleep } from '../../harness/real/children.js';

export interface Target {
  readonly name: string;
  /** Absolute path of the socket a client connects to. */
  readonly path: string;
  /** The processes that relay (their CPU time and memory are the path's cost). */
  pids(): number[];
  stop(): Promise<void>;
}

async function waitForSocket(path: string, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(path) && acceptsConnections(path))) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${String(child.spawnfile)} exited before ${path} appeared`);
    if (Date.now() > deadline) throw new Error(`${path} did not appear in time`);
    await sleep(20);
  }
}

/** Signals a child (null: it was told otherwise) and waits for it, SIGKILL after 10 s. */
function stopChild(child: ChildProcess, signal: NodeJS.Signals | null = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (signal !== null) child.kill(signal);
  });
}

export interface BridgeTargetOptions {
  readonly mode: 'grant' | 'passthrough';
  /** Extra node flags, e.g. --cpu-prof. */
  readonly nodeFlags?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** A command the node process runs under, e.g. ['strace', '-c', '-f', '-o', FILE]. */
  readonly wrap?: readonly string[];
  /**
   * Another build's dist directory to run instead of this one (its bridge/cli/main.js),
   * named after `label`: a change measured against its baseline in one run.
   */
  readonly dist?: string;
  readonly label?: string;
}

/** `grantway proxy` in its own node process, as deployed. */
export async function startBridge(
  runtimeDir: string,
  upstream: string,
  options: BridgeTargetOptions,
): Promise<Target & { readonly pid: number }> {
  const path = join(runtimeDir, `bench-grantway-${options.label ?? ''}${options.mode}`);
  const cli =
    options.dist === undefined
      ? fileURLToPath(new URL('../../bridge/cli/main.js', import.meta.url))
      : join(options.dist, 'bridge/cli/main.js');
  const wrap = options.wrap ?? [];
  const child = spawn(
    wrap[0] ?? process.execPath,
    [
      ...wrap.slice(1),
      ...(wrap.length > 0 ? [process.execPath] : []),
      ...(options.nodeFlags ?? []),
      cli,
      'proxy',
      '--listen',
      path,
      '--upstream',
      upstream,
      '--mode',
      options.mode,
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ...options.env } },
  );
  try {
    // valgrind takes its time to start node on a loaded machine.
    await waitForSocket(path, child, wrap.length > 0 ? 300_000 : 15_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    name: `${options.label === undefined ? 'grantway' : options.label} ${options.mode}`,
    path,
    pid: child.pid!,
    // strace runs node as its child; valgrind becomes node.
    pids: () => {
      const under = wrap.length > 0 ? descendants(child.pid!) : [];
      return under.length > 0 ? under : [child.pid!];
    },
    stop: async () => {
      // Under a wrapper, node gets the signal and the wrapper ends with it.
      if (wrap.length === 0) return stopChild(child);
      const under = descendants(child.pid!);
      for (const pid of under) process.kill(pid, 'SIGTERM');
      return stopChild(child, under.length > 0 ? null : 'SIGTERM');
    },
  };
}

/**
 * waypipe (Debian's 0.8.4) on one machine: `waypipe client` connects to the compositor
 * and listens on a private socket; `waypipe server` offers a Wayland display socket
 * (kept alive by a `sleep` it runs) and forks a relay process per connection, as
 * `waypipe client` does. Compression off (it only costs time on a local socket), no
 * GPU. Its pids are the two main processes and every child they forked.
 */
export async function startWaypipe(runtimeDir: string, upstream: string): Promise<Target> {
  const socket = join(runtimeDir, 'bench-waypipe.sock');
  const display = join(runtimeDir, 'bench-waypipe');
  const env = { ...process.env, XDG_RUNTIME_DIR: runtimeDir, WAYLAND_DISPLAY: upstream };
  const common = ['--compress', 'none', '--no-gpu', '--socket', socket];
  const client = spawn('waypipe', [...common, 'client'], { stdio: 'ignore', env });
  const deadline = Date.now() + 10_000;
  while (!existsSync(socket)) {
    if (client.exitCode !== null) throw new Error('waypipe client exited at once');
    if (Date.now() > deadline) throw new Error('waypipe client socket did not appear');
    await sleep(20);
  }
  const server = spawn(
    'waypipe',
    [...common, '--display', display, 'server', '--', 'sleep', '1000000'],
    { stdio: 'ignore', env },
  );
  await waitForSocket(display, server);
  return {
    name: 'waypipe',
    path: display,
    pids: () => [client.pid!, server.pid!].flatMap((pid) => [pid, ...descendants(pid)]),
    stop: async () => {
      await stopChild(server);
      await stopChild(client);
    },
  };
}

/** The 70-line C relay (c-relay.c), compiled with cc into the runtime dir. */
export async function startCRelay(runtimeDir: string, upstream: string): Promise<Target> {
  const source = fileURLToPath(new URL('../../../scripts/bench/c-relay.c', import.meta.url));
  const binary = join(runtimeDir, 'c-relay');
  const cc = spawnSync('cc', ['-O2', '-o', binary, source], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc failed: ${cc.stderr || cc.error?.message}`);
  const path = join(runtimeDir, 'bench-c-relay');
  const child = spawn(binary, [path, upstream], { stdio: ['ignore', 'inherit', 'inherit'] });
  await waitForSocket(path, child);
  return { name: 'C relay', path, pids: () => [child.pid!], stop: () => stopChild(child) };
}

/** The bare Node relay (node-relay.ts): grantway's primitives, no parsing. */
export async function startNodeRelay(runtimeDir: string, upstream: string): Promise<Target> {
  const script = fileURLToPath(new URL('./node-relay.js', import.meta.url));
  const path = join(runtimeDir, 'bench-node-relay');
  const child = spawn(process.execPath, [script, path, upstream], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitForSocket(path, child);
  return { name: 'Node relay', path, pids: () => [child.pid!], stop: () => stopChild(child) };
}

/** Every live descendant of pid (from /proc/PID/task/TID/children). */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number): void => {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const tid of tasks) {
      let children: string;
      try {
        children = readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
        out.push(c);
        visit(c);
      }
    }
  };
  visit(pid);
  return out;
}

/**
 * CPU time (ns) the processes' threads have run, from /proc/PID/task/TID/schedstat:
 * what process.cpuUsage() would report inside each, at nanosecond resolution.
 */
export function cpuTimeNs(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // the thread exited meanwhile
      }
    }
  }
  return total;
}

/**
 * CPU time (ns) of the processes' children that have exited and been waited for
 * (cutime + cstime in /proc/PID/stat, at clock-tick resolution): waypipe runs each
 * connection in a process of its own, gone by the time a bench looks.
 */
export function reapedChildrenCpuNs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[13]) + Number(fields[14]); // fields 16 and 17 of stat(5)
    } catch {
      // gone
    }
  }
  return ticks * (1e9 / CLOCK_TICKS_PER_SECOND);
}

/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** Resident memory of the processes, in bytes (VmRSS). */
export function rssBytes(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m !== null) total += Number(m[1]) * 1024;
    } catch {
      // gone
    }
  }
  return total;
}

/** Moves every thread of a process onto one CPU (util-linux taskset). */
export function pinToCpu(pid: number, cpu: string): void {
  const r = spawnSync('taskset', ['-a', '-pc', cpu, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(`taskset failed for pid ${pid}: ${r.stderr || r.error?.message}`);
}
