// What every bridge-running command shares: loading protocols (built-in plus
// --protocol-dir), the logger, the --trace sink, and the per-client limits.

import type { Logger } from 'pino';
import { registryWithProtocolDirs } from '../protocol/protocol-dirs.js';
import type { ProtocolRegistry } from '../protocol/registry.js';
import type { TraceSink } from '../relay/session.js';
import { createGrantBackend } from '../grants/factory.js';
import { oracleMappingSource } from '../grants/oracle-source.js';
import type { RemoteMappingSource } from '../grants/types.js';
import { SystemOracle } from '../oracle/system-oracle.js';
import type { LifecycleSink } from '../shm/events.js';
import { Lifecycle } from '../shm/lifecycle.js';
import { PolicyOptionError, UnknownPolicyError } from '../../policies/errors.js';
import { LiveReclaimer } from '../../policies/live.js';
import { DEFAULT_POLICY, createPolicy } from '../../policies/registry.js';
import type { ReclaimPolicy } from '../../policies/types.js';
import type { ClientLimits } from '../relay/limits.js';
import { type BridgeModeOptions, type LimitFlags, OptionError } from './options.js';

/** Built-ins plus --protocol-dir; a bad file is logged and skipped, not fatal. */
export function loadRegistry(
  protocolDirs: readonly string[],
  log: Logger,
): Promise<ProtocolRegistry> {
  return registryWithProtocolDirs(protocolDirs, log);
}

/** WAYLAND_DEBUG-like lines on stderr, stamped in milliseconds like libwayland's. */
export function stderrTrace(): TraceSink {
  return (line: string) => {
    const ms = (performance.now() + performance.timeOrigin) % 1e7;
    process.stderr.write(`[${ms.toFixed(3).padStart(11, ' ')}] ${line}\n`);
  };
}

export function traceFor(enabled: boolean): TraceSink | undefined {
  return enabled ? stderrTrace() : undefined;
}

export type { Logger };

/** The --max-* and --stall-timeout-ms flags as BridgeOptions.limits (unset: the default). */
export function limitsFromFlags(options: LimitFlags): Partial<ClientLimits> {
  return {
    maxPoolSize: options['max-pool-size'],
    maxShmTotal: options['max-shm-total'],
    maxShmDeclared: options['max-shm-declared'],
    maxObjects: options['max-objects'],
    maxFds: options['max-fds'],
    maxBufferedBytes: options['max-buffered'],
    stallTimeoutMs: options['stall-timeout-ms'],
  };
}

/** --policy/--policy-opt as a policy (default: evidence at E3); errors name the option. */
export function policyFromFlags(options: BridgeModeOptions): ReclaimPolicy {
  try {
    return createPolicy(options.policy ?? DEFAULT_POLICY, options['policy-opt'] ?? []);
  } catch (err) {
    if (err instanceof UnknownPolicyError || err instanceof PolicyOptionError) {
      throw new OptionError(`--policy: ${err.message}`);
    }
    throw err;
  }
}

/**
 * Buffer-lifetime tracking for a CLI bridge: always on; grant mode re-backs pools on the
 * chosen backend, and the reclaim scheduler (--policy) decides when their extents go;
 * --record writes the events. E3 evidence comes from one oracle for the whole bridge,
 * which judges every process on this kernel (not one pid: SO_PEERCRED may name a
 * wrapper that never maps), and answers both the mapping watcher and the backend.
 */
export function createLifecycle(
  options: BridgeModeOptions,
  argv: readonly string[],
  log: Logger,
  /**
   * For harnesses: more receivers of every lifecycle event, and `whole` to grant pools
   * whole as before sparse extents (a benchmark's baseline).
   */
  extra: { readonly whole?: boolean; readonly sinks?: readonly LifecycleSink[] } = {},
): Lifecycle {
  const oracle = new SystemOracle({ log });
  const remote: RemoteMappingSource = oracleMappingSource(oracle);
  const policy = policyFromFlags(options);
  const backend =
    options.mode === 'passthrough'
      ? undefined
      : options.backend === 'gntalloc'
        ? createGrantBackend('gntalloc', { domid: options.domid ?? 0, remote })
        : createGrantBackend('memfd', { remote });
  const reclaimer =
    backend === undefined ? undefined : new LiveReclaimer({ backend, policy, oracle: remote });
  return new Lifecycle({
    mode: options.mode,
    recordPath: options.record,
    log,
    source: `grantway ${argv.join(' ')}`,
    oracle,
    sinks: extra.sinks,
    grants: backend === undefined ? undefined : { backend, log, reclaimer, whole: extra.whole },
  });
}
