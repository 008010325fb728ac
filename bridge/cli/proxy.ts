// `grantway proxy`: a long-running bridge between a listening socket and a compositor,
// until SIGINT/SIGTERM. The socket is --listen, or one passed the systemd way (socket
// activation: LISTEN_FDS), and a service manager that set NOTIFY_SOCKET hears when the
// proxy is ready and when it stops (sd_notify). `grantway status` reaches it through the
// control socket beside the listening one.

import { boundPath } from '../../ffi/libc.js';
import { createLogger } from '../log.js';
import { resolveSocketPath } from '../relay/socket-path.js';
import { serviceNotifier } from '../service/sd-notify.js';
import { takePassedWaylandSocket } from '../service/socket-activation.js';
import { loadRegistry } from './common.js';
import { OptionError, proxyOptionsSchema, validateCommandOptions } from './options.js';
import { serveBridge } from './start-bridge.js';

export async function proxyCommand(flags: Record<string, unknown>): Promise<number> {
  const options = await validateCommandOptions(proxyOptionsSchema, flags);
  const log = createLogger(options['log-level']);
  const notifier = serviceNotifier(log);
  const listenFd = takePassedWaylandSocket();
  const listenPath = listenPathOf(options.listen, listenFd);
  const upstreamPath = resolveSocketPath(options.upstream);
  const registry = await loadRegistry(options['protocol-dir'], log);
  const served = await serveBridge(
    { listenPath, upstreamPath, listenFd },
    options,
    registry,
    log,
    process.argv.slice(2),
  );
  notifier.ready(`serving ${listenPath} for ${upstreamPath}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  notifier.stopping('disconnecting clients, reclaiming grants');
  await served.stopServing();
  // The clients are gone; give the compositor a moment to unmap their pools, so their
  // grants end on evidence rather than by force (bounded: a stuck compositor cannot
  // hold the shutdown).
  await served.assembled.settle(1000);
  served.assembled.close();
  return 0;
}

/**
 * Where the bridge listens: the passed socket's path (--listen, if given too, must name
 * it), else --listen.
 */
function listenPathOf(listen: string | undefined, listenFd: number | undefined): string {
  if (listenFd === undefined) {
    if (listen === undefined) {
      throw new OptionError(
        '--listen: is required, unless a listening socket is passed (LISTEN_FDS)',
      );
    }
    return resolveSocketPath(listen);
  }
  const bound = boundPath(listenFd);
  if (!bound.startsWith('/')) {
    throw new OptionError(
      'the socket passed (LISTEN_FDS) has no path: grantway needs a filesystem socket (ListenStream=%t/NAME)',
    );
  }
  if (listen !== undefined && resolveSocketPath(listen) !== bound) {
    throw new OptionError(
      `--listen: names ${resolveSocketPath(listen)}, but the socket passed (LISTEN_FDS) is ${bound}; leave --listen out`,
    );
  }
  return bound;
}
