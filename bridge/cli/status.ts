// `grantway status`: what a running proxy is doing, read from its control socket (beside
// its listening socket, bridge/control/bridge-control.ts). A table that refreshes until
// interrupted, or with --json one snapshot, as the proxy gives it.

import { setTimeout as sleep } from 'node:timers/promises';
import { BridgeControlClient, controlPathFor } from '../control/bridge-control.js';
import { formatStatus } from '../control/status-table.js';
import { resolveSocketPath } from '../relay/socket-path.js';
import { OptionError, statusOptionsSchema, validateOptions } from './options.js';

export async function statusCommand(flags: Record<string, unknown>): Promise<number> {
  const options = validateOptions(statusOptionsSchema, flags);
  const listen = options.listen ?? process.env.WAYLAND_DISPLAY;
  if (options.control === undefined && listen === undefined) {
    throw new OptionError(
      '--listen: is required (the name the proxy listens on), unless --control PATH or WAYLAND_DISPLAY is given',
    );
  }
  const path = options.control ?? controlPathFor(resolveSocketPath(listen!));
  const client = await BridgeControlClient.connect(path);
  try {
    if (options.json) {
      process.stdout.write(`${JSON.stringify(await client.snapshot(), null, 2)}\n`);
      return 0;
    }
    let stopped = false;
    const stop = (): void => {
      stopped = true;
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    const tty = process.stdout.isTTY === true;
    while (!stopped) {
      const text = formatStatus(await client.snapshot());
      // On a terminal the table is redrawn in place; piped, each refresh follows the last.
      process.stdout.write(tty ? `\x1b[H\x1b[2J${text}` : `${text}\n`);
      await sleep(options['interval-ms']);
    }
    return 0;
  } finally {
    client.close();
  }
}
