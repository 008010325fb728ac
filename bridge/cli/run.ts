// `grantway run -- CMD`: wrap one program. The bridge listens on a fresh socket, CMD
// runs with WAYLAND_DISPLAY pointing at it, and grantway exits with CMD's status, so
// it drops into scripts and test runners in front of any Wayland client.

import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants as osConstants } from 'node:os';
import { createLogger } from '../log.js';
import { resolveSocketPath } from '../relay/socket-path.js';
import { loadRegistry } from './common.js';
import { OptionError, runOptionsSchema, validateCommandOptions } from './options.js';
import { serveBridge } from './start-bridge.js';

export async function runCommand(
  flags: Record<string, unknown>,
  command: string[],
): Promise<number> {
  const options = await validateCommandOptions(runOptionsSchema, flags);
  const [program, ...args] = command;
  if (program === undefined)
    throw new OptionError('run: no command given (grantway run [options] -- CMD [ARGS...])');
  const log = createLogger(options['log-level']);
  const registry = await loadRegistry(options['protocol-dir'], log);
  const upstream = options.upstream ?? process.env.WAYLAND_DISPLAY ?? 'wayland-0';
  const listen = options.listen ?? `grantway-${process.pid}`;
  const listenPath = resolveSocketPath(listen);
  const upstreamPath = resolveSocketPath(upstream);
  const served = await serveBridge(
    { listenPath, upstreamPath },
    options,
    registry,
    log,
    process.argv.slice(2),
  );
  const { bridge, assembled } = served;
  try {
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(program, args, {
        stdio: 'inherit',
        env: { ...process.env, WAYLAND_DISPLAY: bridge.listenPath },
      });
      const forward = (signal: NodeJS.Signals): void => {
        child.kill(signal);
      };
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      child.once('error', (err) =>
        reject(new OptionError(`run: cannot start ${program}: ${err.message}`)),
      );
      child.once('exit', (code, signal) => {
        process.off('SIGINT', forward);
        process.off('SIGTERM', forward);
        if (signal !== null) resolve(128 + (osConstants.signals[signal] ?? 0));
        else resolve(code ?? 0);
      });
    });
  } finally {
    // The client is gone; give the compositor a moment to unmap what it had, so the
    // record ends with the evidence that followed (bounded: never holds the exit long).
    await Promise.race([bridge.whenIdle(), sleep(500)]);
    await assembled.settle(1000);
    await served.stopServing();
    assembled.close();
  }
}
