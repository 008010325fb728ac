// grantway as a desktop service (README, "Running it as a service"): the unit pair in
// contrib/ passes systemd's own checks, and the service is started the way its units
// say — the socket made by the real systemd-socket-activate (ListenStream,
// FileDescriptorName), the command from ExecStart with its settings from the example
// proxy.toml — so the first connection, a real client, is served by a proxy that took
// the socket over (LISTEN_FDS), told NOTIFY_SOCKET it was ready, answers
// `grantway status`, and on SIGTERM says it stops and leaves only the supervisor's
// socket behind.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedCompositor } from '../harness/embedded.js';
import { sleep } from '../harness/real/children.js';
import { commandAvailable } from '../harness/real/process.js';
import { close as closeFd } from '../ffi/libc.js';
import { bindDatagramSocket, receiveDatagram } from '../ffi/unix-datagram.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'bridge', 'cli', 'main.js');
const CONTRIB = join(ROOT, 'contrib');

/** `Key=value` lines of one section of a unit file. */
function unitSection(file: string, section: string): Map<string, string> {
  const values = new Map<string, string>();
  let current = '';
  for (const raw of readFileSync(join(CONTRIB, file), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) current = header[1]!;
    else if (current === section) {
      const at = line.indexOf('=');
      values.set(line.slice(0, at), line.slice(at + 1));
    }
  }
  return values;
}

const runnable =
  commandAvailable('systemd-socket-activate') &&
  commandAvailable('systemd-analyze') &&
  commandAvailable('wayland-info');

describe.skipIf(!runnable)('the contrib/ unit pair, started by systemd-socket-activate', () => {
  let home: string;
  let runtimeDir: string;
  let configDir: string;
  let grantway: string;
  let compositor: Awaited<ReturnType<typeof startEmbeddedCompositor>>;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'gw-service-'));
    runtimeDir = join(home, 'run');
    configDir = join(home, 'config');
    mkdirSync(runtimeDir, { mode: 0o700 });
    mkdirSync(join(configDir, 'grantway'), { recursive: true });
    // `grantway` as npm installs it: a command that runs the CLI in its own process.
    grantway = join(home, 'grantway');
    writeFileSync(grantway, `#!/bin/sh\nexec ${process.execPath} ${CLI} "$@"\n`);
    chmodSync(grantway, 0o755);
    compositor = await startEmbeddedCompositor({ socketName: 'gw-service-up' });
    // The example settings, pointed at this compositor.
    const example = readFileSync(join(CONTRIB, 'proxy.toml'), 'utf8');
    expect(example).toMatch(/^upstream = "wayland-0"$/m);
    writeFileSync(
      join(configDir, 'grantway', 'proxy.toml'),
      example.replace(/^upstream = .*$/m, `upstream = "${compositor.socketPath}"`),
    );
  });

  afterAll(async () => {
    await compositor?.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('passes systemd-analyze verify', () => {
    const units = join(home, 'units');
    mkdirSync(units, { recursive: true });
    writeFileSync(join(units, 'grantway.socket'), readFileSync(join(CONTRIB, 'grantway.socket')));
    writeFileSync(
      join(units, 'grantway.service'),
      readFileSync(join(CONTRIB, 'grantway.service'), 'utf8').replace(
        /^ExecStart=grantway /m,
        `ExecStart=${grantway} `,
      ),
    );
    const out = execFileSync(
      'systemd-analyze',
      ['verify', '--user', join(units, 'grantway.socket'), join(units, 'grantway.service')],
      { env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir }, encoding: 'utf8', stdio: 'pipe' },
    );
    expect(out).toBe('');
  });

  it('serves a real client on its first connection, notifies readiness, and stops cleanly', async () => {
    const socket = unitSection('grantway.socket', 'Socket');
    const service = unitSection('grantway.service', 'Service');
    expect(service.get('Type')).toBe('notify');
    const listenPath = socket.get('ListenStream')!.replace('%t', runtimeDir);
    const [command, ...args] = service
      .get('ExecStart')!
      .replace('%E', configDir)
      .split(' ')
      .map((word) => (word === 'grantway' ? grantway : word));
    const notifyPath = join(home, 'notify');
    const notify = bindDatagramSocket(notifyPath);
    let child: ChildProcess | undefined;
    try {
      child = spawn(
        'systemd-socket-activate',
        [
          '--listen',
          listenPath,
          `--fdname=${socket.get('FileDescriptorName')}`,
          '-E',
          `XDG_RUNTIME_DIR=${runtimeDir}`,
          '-E',
          `NOTIFY_SOCKET=${notifyPath}`,
          command!,
          ...args,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
      const deadline = Date.now() + 10_000;
      while (!existsSync(listenPath)) {
        if (Date.now() > deadline) throw new Error(`no socket: ${stderr}`);
        await sleep(20);
      }
      // Nothing runs yet but the supervisor; the first client starts the proxy.
      const env = { ...process.env, XDG_RUNTIME_DIR: runtimeDir, WAYLAND_DISPLAY: 'grantway-0' };
      const info = execFileSync('wayland-info', [], { env, encoding: 'utf8', timeout: 20_000 });
      expect(info).toMatch(/interface: 'wl_compositor'/);
      while (!stderr.includes('"socketActivated":true')) {
        if (Date.now() > deadline + 10_000) throw new Error(`not socket-activated: ${stderr}`);
        await sleep(20);
      }

      const messages: string[] = [];
      const gather = (): string[] => {
        for (let d = receiveDatagram(notify); d !== null; d = receiveDatagram(notify)) {
          messages.push(d.toString());
        }
        return messages;
      };
      expect(gather()).toEqual([
        `READY=1\nSTATUS=serving ${listenPath} for ${compositor.socketPath}\n`,
      ]);
      expect(statSync(`${listenPath}.control`).mode & 0o777).toBe(0o600);
      const status = execFileSync(process.execPath, [CLI, 'status', '--json'], {
        env,
        encoding: 'utf8',
      });
      expect(JSON.parse(status)).toMatchObject({ listen: listenPath, relay: { accepted: 1 } });

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(gather()[1]).toMatch(/^STOPPING=1\n/);
      expect(existsSync(`${listenPath}.control`)).toBe(false);
      expect(existsSync(`${listenPath}.lock`)).toBe(false);
      expect(existsSync(listenPath)).toBe(true); // the supervisor's, not the proxy's
    } finally {
      child?.kill('SIGKILL');
      closeFd(notify);
    }
  });
});
