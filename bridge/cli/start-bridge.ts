// Starting the bridge for a command (proxy, run) from its flags, through the one bridge
// assembly (bridge/assembly/): buffer-lifetime tracking is always on; grant mode
// re-backs pools on the chosen backend and the reclaim scheduler (--policy) decides when
// their extents go; --record writes the events. E3 evidence comes from one oracle for
// the whole bridge, which judges every process on this kernel (not one pid: SO_PEERCRED
// may name a wrapper that never maps). A start that fails — the socket is in use,
// --listen names something else, the compositor is not there — leaves nothing behind
// that the command set up before it, not even an empty --record.

import type { Logger } from 'pino';
import { type AssembledBridge, assembleBridge } from '../assembly/assemble.js';
import type { ProtocolRegistry } from '../protocol/registry.js';
import { limitsFromFlags, policyFromFlags, traceFor } from './common.js';
import type { BridgeModeOptions, LimitFlags } from './options.js';

export function startBridge(
  paths: { readonly listenPath: string; readonly upstreamPath: string },
  flags: { readonly trace: boolean } & BridgeModeOptions & LimitFlags,
  registry: ProtocolRegistry,
  log: Logger,
  argv: readonly string[],
): AssembledBridge {
  return assembleBridge({
    ...paths,
    registry,
    log,
    trace: traceFor(flags.trace),
    limits: limitsFromFlags(flags),
    mode: flags.mode,
    backend:
      flags.backend === 'gntalloc'
        ? { kind: 'gntalloc', domid: flags.domid ?? 0 }
        : { kind: 'memfd' },
    policy: policyFromFlags(flags),
    recordPath: flags.record,
    source: `grantway ${argv.join(' ')}`,
  });
}
