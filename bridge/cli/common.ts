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
import { PAGE_SIZE } from '../grants/types.js';
import type { ShmView } from '../ops/collect.js';
import type { LifecycleSink } from '../shm/events.js';
import { Lifecycle } from '../shm/lifecycle.js';
import { ShmBudget } from '../shm/shm-budget.js';
import type { PoolHooks } from '../shm/tracker.js';
import type { SchedulerListener } from '../../policies/scheduler.js';
import { PolicyOptionError, UnknownPolicyError } from '../../policies/errors.js';
import { LiveReclaimer } from '../../policies/live.js';
import { DEFAULT_POLICY, createPolicy } from '../../policies/registry.js';
import type { ReclaimPolicy } from '../../policies/types.js';
import type { ClientLimits } from '../relay/limits.js';
import type { ProxyLimits } from '../relay/proxy-limits.js';
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

/** --max-clients, --max-clients-per-uid, --max-shm-total-all (unset: the machine's default). */
export function proxyLimitsFromFlags(options: LimitFlags): Partial<ProxyLimits> {
  return {
    maxClients: options['max-clients'],
    maxClientsPerUid: options['max-clients-per-uid'],
    maxShmTotalAll: options['max-shm-total-all'],
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

/** What operators' views add to buffer-lifetime tracking (bridge/ops/). */
export interface TrackingObservers {
  readonly poolHooks?: PoolHooks;
  readonly schedulerListener?: SchedulerListener;
}

export interface ShmTracking {
  readonly lifecycle: Lifecycle;
  /** What `grantway status` and --metrics read (bridge/ops/collect.ts). */
  readonly view: ShmView;
  /** maxShmTotalAll over every client of this bridge. */
  readonly budget: ShmBudget;
}

/**
 * Buffer-lifetime tracking for a CLI bridge: always on; grant mode re-backs pools on the
 * chosen backend, and the reclaim scheduler (--policy) decides when their extents go;
 * --record writes the events. E3 evidence comes from one oracle for the whole bridge,
 * which judges every process on this kernel (not one pid: SO_PEERCRED may name a
 * wrapper that never maps), and answers both the mapping watcher and the backend.
 * maxShmTotalAll is checked across every client's pools and the extents the scheduler
 * still holds.
 */
export function createShmTracking(
  options: BridgeModeOptions,
  argv: readonly string[],
  log: Logger,
  maxShmTotalAll: number,
  observers: TrackingObservers = {},
  /**
   * For harnesses: more receivers of every lifecycle event, and `whole` to grant pools
   * whole as before sparse extents (a benchmark's baseline).
   */
  extra: { readonly whole?: boolean; readonly sinks?: readonly LifecycleSink[] } = {},
): ShmTracking {
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
    backend === undefined
      ? undefined
      : new LiveReclaimer({
          backend,
          policy,
          oracle: remote,
          listener: observers.schedulerListener,
        });
  const scheduler = reclaimer?.scheduler;
  // The budget sums the trackers of the lifecycle it is given to.
  const made: { lifecycle?: Lifecycle } = {};
  const budget = new ShmBudget(maxShmTotalAll, {
    charged: () => {
      let sum = 0;
      for (const tracker of made.lifecycle?.trackers ?? []) sum += tracker.heldBytes();
      return sum;
    },
    // Extents the scheduler holds, less those a client is still charged for (handed off
    // at let-go, their pool not yet final: bridge/shm/grant-mode.ts).
    retained: () => {
      const stats = scheduler?.stats();
      if (stats === undefined) return 0;
      const charged = made.lifecycle?.backing?.handedOffPages ?? 0;
      return Math.max(0, stats.deferredRefs + stats.cachedRefs - charged) * PAGE_SIZE;
    },
  });
  const lifecycle = new Lifecycle({
    mode: options.mode,
    recordPath: options.record,
    log,
    source: `grantway ${argv.join(' ')}`,
    oracle,
    sinks: extra.sinks,
    grants:
      backend === undefined
        ? undefined
        : { backend, log, reclaimer, whole: extra.whole ?? options['whole-extents'] },
    poolHooks: observers.poolHooks,
    budget,
  });
  made.lifecycle = lifecycle;
  return {
    lifecycle,
    budget,
    view: {
      trackers: lifecycle.trackers,
      watcher: lifecycle.watcher,
      backing: lifecycle.backing,
      backend,
      scheduler,
      heldBytes: () => budget.heldBytes,
    },
  };
}

/** Buffer-lifetime tracking alone (see createShmTracking), for tools without a budget. */
export function createLifecycle(
  options: BridgeModeOptions,
  argv: readonly string[],
  log: Logger,
  extra: { readonly whole?: boolean; readonly sinks?: readonly LifecycleSink[] } = {},
): Lifecycle {
  return createShmTracking(options, argv, log, Number.MAX_SAFE_INTEGER, {}, extra).lifecycle;
}
