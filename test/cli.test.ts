// The `grantway` command as a user meets it: exit codes, one-line errors that say what
// to fix, the lock file, and `run` handing back its command's status. Runs the built
// CLI (`npm test` builds first).

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { bindUnix, close as closeFd, unixSocket } from '../ffi/libc.js';
import { FakeCompositor } from './support/fake-compositor.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'bridge', 'cli', 'main.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function grantway(
  args: string[],
  env: Record<string, string | undefined>,
  untilStderr?: RegExp,
): Promise<Result> & { kill: () => void } {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const done = new Promise<Result>((resolve) => {
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (untilStderr?.test(stderr)) resolve({ code: null, stdout, stderr });
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
  return Object.assign(done, { kill: () => child.kill('SIGTERM') });
}

let compositor: FakeCompositor;
let runtimeDir: string;

beforeEach(() => {
  compositor = new FakeCompositor();
  runtimeDir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
});

afterEach(() => {
  compositor.close();
  rmSync(runtimeDir, { recursive: true, force: true });
});

describe('grantway CLI', () => {
  it('refuses a relative socket name when XDG_RUNTIME_DIR is unset', async () => {
    const r = await grantway(['proxy', '--listen', 'gw-0', '--upstream', compositor.path], {});
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/XDG_RUNTIME_DIR is not set/);
  });

  it('names the missing compositor socket', async () => {
    const r = await grantway(['proxy', '--listen', 'gw-0', '--upstream', 'nothing-here'], {
      XDG_RUNTIME_DIR: runtimeDir,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no compositor at ${join(runtimeDir, 'nothing-here')}`);
  });

  it('lists the allowed values of a bad option', async () => {
    const r = await grantway(['proxy', '--listen', 'a', '--upstream', 'b', '--log-level', 'loud'], {
      XDG_RUNTIME_DIR: runtimeDir,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--log-level: must be one of fatal, error, warn, info, debug, trace, silent/,
    );
  });

  it('holds NAME.lock while serving, refuses a second server, and cleans up on SIGTERM', async () => {
    const env = { XDG_RUNTIME_DIR: runtimeDir };
    const first = grantway(
      ['proxy', '--listen', 'gw-0', '--upstream', compositor.path],
      env,
      /bridge listening/,
    );
    await first;
    expect(existsSync(join(runtimeDir, 'gw-0'))).toBe(true);
    expect(existsSync(join(runtimeDir, 'gw-0.lock'))).toBe(true);
    const second = await grantway(
      ['proxy', '--listen', 'gw-0', '--upstream', compositor.path],
      env,
    );
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/is in use/);
    first.kill();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(existsSync(join(runtimeDir, 'gw-0'))).toBe(false);
  });

  it('run: gives the command a WAYLAND_DISPLAY socket and exits with its status', async () => {
    const r = await grantway(
      [
        'run',
        '--upstream',
        compositor.path,
        '--',
        'sh',
        '-c',
        'test -S "$WAYLAND_DISPLAY" || exit 9; exit 7',
      ],
      { XDG_RUNTIME_DIR: runtimeDir },
    );
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(7);
  });

  it('run: reports a command that cannot be started', async () => {
    const r = await grantway(['run', '--upstream', compositor.path, '--', 'no-such-program-xyz'], {
      XDG_RUNTIME_DIR: runtimeDir,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot start no-such-program-xyz/);
  });
});

describe('operator errors: one line on stderr, exit code 2, nothing left behind', () => {
  /** Runs `grantway proxy` with `args` and checks the one-line error and the runtime dir. */
  async function refused(args: string[], message: RegExp, left: string[] = []): Promise<void> {
    const r = await grantway(['proxy', ...args, '--log-level', 'warn'], {
      XDG_RUNTIME_DIR: runtimeDir,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^grantway: [^\n]*\n$/);
    expect(r.stderr).toMatch(message);
    expect(readdirSync(runtimeDir).sort()).toEqual(left);
  }

  it.each([
    [
      'under a missing directory',
      '/nonexistent-dir/trace.jsonl',
      /cannot open for writing \(ENOENT/,
    ],
    ['under /proc', '/proc/grantway-trace.jsonl', /cannot open for writing \(E[A-Z]+/],
    ['a directory', '.', /cannot open for writing \(EISDIR/],
    ['/dev/full', '/dev/full', /cannot write \(ENOSPC: no space left on device\)/],
  ])('--record %s', async (_what, path, message) => {
    const record = path === '.' ? runtimeDir : path;
    await refused(['--listen', 'gw-0', '--upstream', compositor.path, '--record', record], message);
    expect(existsSync('/dev/full')).toBe(true);
  });

  it('--listen naming a directory: refused, and its NAME.lock is not left behind', async () => {
    mkdirSync(join(runtimeDir, 'gw-0'));
    await refused(
      ['--listen', 'gw-0', '--upstream', compositor.path],
      /cannot listen on .*gw-0: it exists and is a directory, not a socket/,
      ['gw-0'],
    );
  });

  it('--listen X --upstream X with a stale socket at X: refused, before listening on it', async () => {
    const stale = unixSocket();
    bindUnix(stale, join(runtimeDir, 'gw-0'));
    closeFd(stale); // a socket file that nobody listens on
    await refused(
      ['--listen', 'gw-0', '--upstream', 'gw-0'],
      /it is also the compositor socket \(--upstream\): the bridge would connect to itself/,
      ['gw-0'],
    );
  });

  it('a listen failure after --record opened its file leaves no record behind', async () => {
    mkdirSync(join(runtimeDir, 'gw-0'));
    const record = join(runtimeDir, 'trace.jsonl');
    await refused(
      ['--listen', 'gw-0', '--upstream', compositor.path, '--record', record],
      /not a socket/,
      ['gw-0'],
    );
  });
});
