// `grantway proxy`: a long-running bridge between a listening socket and a compositor,
// until SIGINT/SIGTERM.

import { createLogger } from '../log.js';
import { resolveSocketPath } from '../relay/socket-path.js';
import { loadRegistry } from './common.js';
import { proxyOptionsSchema, validateOptions } from './options.js';
import { startBridge } from './start-bridge.js';

export async function proxyCommand(flags: Record<string, unknown>): Promise<number> {
  const options = validateOptions(proxyOptionsSchema, flags);
  const log = createLogger(options['log-level']);
  const registry = await loadRegistry(options['protocol-dir'], log);
  const listenPath = resolveSocketPath(options.listen);
  const upstreamPath = resolveSocketPath(options.upstream);
  const bridge = startBridge(
    { listenPath, upstreamPath },
    options,
    registry,
    log,
    process.argv.slice(2),
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  bridge.bridge.close();
  // The clients are gone; give the compositor a moment to unmap their pools, so their
  // grants end on evidence rather than by force (bounded: a stuck compositor cannot
  // hold the shutdown).
  await bridge.settle(1000);
  bridge.close();
  return 0;
}
