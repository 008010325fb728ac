// Starting the bridge for a command (proxy, run) from its flags. A start that fails —
// the socket is in use, --listen names something else, the compositor is not there —
// leaves nothing behind that the command set up before it, not even an empty --record.

import type { Logger } from 'pino';
import type { ProtocolRegistry } from '../protocol/registry.js';
import { Bridge } from '../relay/bridge.js';
import type { Lifecycle } from '../shm/lifecycle.js';
import { limitsFromFlags, traceFor } from './common.js';
import type { LimitFlags } from './options.js';

export function startBridge(
  paths: { readonly listenPath: string; readonly upstreamPath: string },
  flags: { readonly trace: boolean } & LimitFlags,
  registry: ProtocolRegistry,
  log: Logger,
  lifecycle: Lifecycle,
): Bridge {
  try {
    return Bridge.start({
      ...paths,
      registry,
      log,
      trace: traceFor(flags.trace),
      observe: lifecycle.factory,
      limits: limitsFromFlags(flags),
    });
  } catch (err) {
    lifecycle.close({ discardRecord: true });
    throw err;
  }
}
