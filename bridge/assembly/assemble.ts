// The one way to put a bridge together (ARCHITECTURE.md §3): the relay (Bridge), buffer
// lifetime tracking (Lifecycle: a tracker per client and the one E3 poller), and in
// grant mode a grant backend, the E3 oracle it shares with the poller, and the reclaim
// scheduler with its policy, which every extent comes from and goes back to. The CLI,
// the demo, the test harness and the tests all build their bridge here, so what one of
// them runs is what the others run.
//
// Ownership: the assembled bridge owns everything it made (sockets, trackers, the
// backend and its extents, the record file); close() releases all of it. A start that
// fails leaves nothing behind, not even an empty record.

import type { Logger } from 'pino';
import { createGrantBackend } from '../grants/factory.js';
import { oracleMappingSource } from '../grants/oracle-source.js';
import { type GrantBackend, PAGE_SIZE, type RemoteMappingSource } from '../grants/types.js';
import { VerifyingBackend, type VerifyingOptions } from '../grants/verifying.js';
import { silentLogger } from '../log.js';
import type { ShmView } from '../ops/collect.js';
import { SystemOracle, type SystemOracleOptions } from '../oracle/system-oracle.js';
import type { MappingOracle } from '../oracle/types.js';
import { ProtocolRegistry } from '../protocol/registry.js';
import { Bridge } from '../relay/bridge.js';
import { type ClientLimits, resolveClientLimits } from '../relay/limits.js';
import { type ProxyLimits, resolveProxyLimits } from '../relay/proxy-limits.js';
import type { ObserverFactory } from '../relay/observer.js';
import type { TraceSink } from '../relay/session.js';
import type { CopyThreads } from '../shm/copy-threads.js';
import type { LifecycleSink } from '../shm/events.js';
import { Lifecycle } from '../shm/lifecycle.js';
import { ShmBudget } from '../shm/shm-budget.js';
import type { PoolHooks } from '../shm/tracker.js';
import { LiveReclaimer, createPolicy, DEFAULT_POLICY } from '../../policies/index.js';
import type { SchedulerListener, ReclaimPolicy } from '../../policies/index.js';

/** Where grant mode's pages come from. */
export type BackendChoice =
  /** One sealed memfd per extent: any Linux (the default). */
  | { readonly kind: 'memfd' }
  /** Real Xen grants to domain `domid` (inside a Xen domain only). */
  | { readonly kind: 'gntalloc'; readonly domid: number }
  /** A backend of the caller's, given the E3 source to answer end-of-access with. */
  | { readonly kind: 'custom'; create(remote: RemoteMappingSource | undefined): GrantBackend };

export interface AssemblyOptions {
  /** Absolute path of the socket to listen on. */
  readonly listenPath: string;
  /** A listening socket passed by a supervisor (socket activation), used instead. */
  readonly listenFd?: number;
  /** Absolute path of the compositor's socket. */
  readonly upstreamPath: string;
  /** Protocol tables (default: the built-in ones). */
  readonly registry?: ProtocolRegistry;
  /** Default: silent. */
  readonly log?: Logger;
  /** Every message of every connection, WAYLAND_DEBUG style. */
  readonly trace?: TraceSink;
  /** Per-client limits; those not given take their defaults. */
  readonly limits?: Partial<ClientLimits>;
  /**
   * Limits across the proxy (maxClients, maxClientsPerUid, maxShmTotalAll…); those not
   * given take their defaults from this machine.
   */
  readonly proxyLimits?: Partial<ProxyLimits>;
  /** grant (default): pools re-backed on grant pages; passthrough: client fds go through. */
  readonly mode?: 'grant' | 'passthrough';
  /** Grant mode's pages (default memfd). */
  readonly backend?: BackendChoice;
  /**
   * Judge every free against every process's maps and fds (VerifyingBackend): an unsafe
   * reclaim is counted when it happens. For the demo and the tests.
   */
  readonly verifyFrees?: boolean | VerifyingOptions;
  /**
   * When extents are reclaimed: a policy, or a policy's name with `policyOptions` (as
   * --policy and --policy-opt take them). Default: DEFAULT_POLICY (evidence at E3).
   */
  readonly policy?: ReclaimPolicy | string;
  readonly policyOptions?: readonly string[] | Readonly<Record<string, string>>;
  /**
   * The E3 oracle: options for the SystemOracle (default), an oracle of the caller's,
   * or 'none' (evidence stops at E2; for a compositor in this very process).
   */
  readonly oracle?: SystemOracleOptions | MappingOracle | 'none';
  /** Write every lifecycle event to this file (--record); `source` goes in its header. */
  readonly recordPath?: string;
  readonly source?: string;
  /** More receivers of every lifecycle event. */
  readonly sinks?: readonly LifecycleSink[];
  /**
   * Threads that copy big commits off the event loop: how many (a shared pool), a pool
   * of the caller's, or 0 for none. Default: defaultCopyThreads() (bridge/shm).
   */
  readonly copyThreads?: number | CopyThreads;
  /**
   * Grant pools whole, as before sparse extents (a benchmark's baseline). Default:
   * sparse wherever the backend can.
   */
  readonly whole?: boolean;
  /** Decode damage in passthrough mode too (grant mode always does). */
  readonly trackDamage?: boolean;
  /** Observer of what the scheduler does (metrics, tests). */
  readonly schedulerListener?: SchedulerListener;
  /** More observers of pools (let go, evidence, forgotten): metrics' reclaim timings. */
  readonly poolHooks?: PoolHooks;
  /**
   * Sees the grant backend the bridge will use (the verifying one when verifyFrees) and
   * returns the one it uses: a wrapper that records grants taken and freed (the demo's
   * timeline). It must pass every call through.
   */
  readonly wrapBackend?: (backend: GrantBackend) => GrantBackend;
  /** Likewise for the relay's observer factory (e.g. to also learn window titles). */
  readonly wrapObservers?: (factory: ObserverFactory) => ObserverFactory;
}

/** What became of grant extents so far, for reports and tests. */
export interface ReclaimFigures {
  /** The policy's name, e.g. `evidence-E3` (undefined in passthrough mode). */
  readonly policy: string | undefined;
  /** Fresh extents from the backend. */
  readonly allocated: number;
  /** Extents freed by the scheduler. */
  readonly reclaimed: number;
  /** Extents the backend holds now (cached ones included). */
  readonly inUse: number;
  /** Extents proven unmapped and kept for reuse (recycle), not freed. */
  readonly cached: number;
  /** End-of-access attempts, and those the backend refused (still mapped). */
  readonly attempts: number;
  readonly failed: number;
  /** Peak of refs (pages) retired and not yet freed: the deferred queue. */
  readonly deferredPeak: number;
  /** Refs retired and not yet freed now. */
  readonly deferred: number;
}

export interface AssembledBridge {
  readonly bridge: Bridge;
  readonly lifecycle: Lifecycle;
  /** The bridge's one E3 oracle (undefined with oracle 'none'). */
  readonly oracle: MappingOracle | undefined;
  /** Grant mode's backend (the verifying one when verifyFrees); undefined in passthrough. */
  readonly backend: GrantBackend | undefined;
  /** The same backend, when it judges every free. */
  readonly verifier: VerifyingBackend | undefined;
  /** The reclaim scheduler's driver (grant mode). */
  readonly reclaimer: LiveReclaimer | undefined;
  readonly policy: ReclaimPolicy | undefined;
  readonly listenPath: string;
  /** maxShmTotalAll over every client of this bridge and the extents it still holds. */
  readonly budget: ShmBudget;
  /** What `grantway status` and --metrics read (bridge/ops/collect.ts). */
  readonly view: ShmView;
  figures(): ReclaimFigures;
  /**
   * Resolves once no pool waits for E3 and no retired extent waits to be freed, or after
   * `timeoutMs`: lets a short run end with complete evidence and reclaims.
   */
  settle(timeoutMs: number): Promise<void>;
  /** Stops listening, disconnects every client, closes tracking and the backend. */
  close(): void;
}

/** Makes the policy an AssemblyOptions names (errors name the policy and the option). */
export function policyOf(
  options: Pick<AssemblyOptions, 'policy' | 'policyOptions'>,
): ReclaimPolicy {
  const policy = options.policy ?? DEFAULT_POLICY;
  return typeof policy === 'string' ? createPolicy(policy, options.policyOptions ?? []) : policy;
}

export function assembleBridge(options: AssemblyOptions): AssembledBridge {
  const log = options.log ?? silentLogger;
  const grantMode = (options.mode ?? 'grant') === 'grant';
  const oracle = oracleOf(options.oracle, log);
  const remote = oracle === undefined ? undefined : oracleMappingSource(oracle);
  const policy = grantMode ? policyOf(options) : undefined;
  const inner = grantMode ? backendOf(options.backend ?? { kind: 'memfd' }, remote) : undefined;
  const verifier =
    inner !== undefined && options.verifyFrees !== undefined && options.verifyFrees !== false
      ? new VerifyingBackend(inner, options.verifyFrees === true ? {} : options.verifyFrees)
      : undefined;
  const unwrapped = verifier ?? inner;
  const backend =
    unwrapped === undefined || options.wrapBackend === undefined
      ? unwrapped
      : options.wrapBackend(unwrapped);
  const cached = { ever: 0, freed: 0 };
  const listener = options.schedulerListener;
  const reclaimer =
    backend === undefined || policy === undefined
      ? undefined
      : new LiveReclaimer({
          backend,
          policy,
          oracle: remote,
          // The policy's re-checks read what the one E3 poller last saw.
          verdicts: oracle === undefined ? 'ask' : 'pushed',
          listener: {
            ...listener,
            cached(id, at) {
              cached.ever++;
              listener?.cached?.(id, at);
            },
            freed(id, at, wasCached) {
              if (wasCached) cached.freed++;
              listener?.freed?.(id, at, wasCached);
            },
          },
        });
  const limits = resolveClientLimits(options.limits ?? {});
  const proxyLimits = resolveProxyLimits(options.proxyLimits ?? {}, limits);
  // maxShmTotalAll is checked across every client's pools and the extents the scheduler
  // still holds; the budget sums the trackers of the lifecycle made below.
  const made: { lifecycle?: Lifecycle } = {};
  const budget = new ShmBudget(proxyLimits.maxShmTotalAll, {
    charged: () => {
      let sum = 0;
      for (const tracker of made.lifecycle?.trackers ?? []) sum += tracker.heldBytes();
      return sum;
    },
    // Extents the scheduler holds, less those a client is still charged for (handed off
    // at let-go, their pool not yet final: bridge/shm/grant-mode.ts).
    retained: () => {
      const stats = reclaimer?.scheduler.stats();
      if (stats === undefined) return 0;
      const charged = made.lifecycle?.backing?.handedOffPages ?? 0;
      return Math.max(0, stats.deferredRefs + stats.cachedRefs - charged) * PAGE_SIZE;
    },
  });
  let lifecycle: Lifecycle;
  try {
    lifecycle = new Lifecycle({
      mode: grantMode ? 'grant' : 'passthrough',
      recordPath: options.recordPath,
      log,
      source: options.source,
      oracle,
      pollBackoff: policy?.recheck,
      sinks: options.sinks,
      trackDamage: options.trackDamage,
      poolHooks: options.poolHooks,
      budget,
      grants:
        backend === undefined || reclaimer === undefined
          ? undefined
          : { backend, reclaimer, copyThreads: options.copyThreads, whole: options.whole },
    });
  } catch (err) {
    reclaimer?.close();
    backend?.close();
    throw err;
  }
  made.lifecycle = lifecycle;
  let bridge: Bridge;
  try {
    bridge = Bridge.start({
      listenPath: options.listenPath,
      listenFd: options.listenFd,
      upstreamPath: options.upstreamPath,
      registry: options.registry ?? new ProtocolRegistry(),
      log,
      trace: options.trace,
      observe: options.wrapObservers?.(lifecycle.factory) ?? lifecycle.factory,
      limits,
      proxyLimits,
    });
  } catch (err) {
    lifecycle.close({ discardRecord: true });
    throw err;
  }
  const scheduler = reclaimer?.scheduler;
  let closed = false;
  const figures = (): ReclaimFigures => {
    const s = scheduler?.stats();
    return {
      policy: policy?.name,
      allocated: s?.allocations ?? 0,
      reclaimed: s?.freed ?? 0,
      inUse: backend?.stats().extentsInUse ?? 0,
      // Cached extents leave the cache by being reused or freed.
      cached: cached.ever - cached.freed - (s?.reuses ?? 0),
      attempts: s?.endAccessAttempts ?? 0,
      failed: s?.endAccessFailures ?? 0,
      deferredPeak: s?.maxDeferredRefs ?? 0,
      deferred: s?.deferredRefs ?? 0,
    };
  };
  return {
    bridge,
    lifecycle,
    oracle,
    backend,
    verifier,
    reclaimer,
    policy,
    listenPath: bridge.listenPath,
    budget,
    view: {
      trackers: lifecycle.trackers,
      watcher: lifecycle.watcher,
      backing: lifecycle.backing,
      backend,
      scheduler,
      heldBytes: () => budget.heldBytes,
    },
    figures,
    async settle(timeoutMs: number): Promise<void> {
      const deadline = performance.now() + timeoutMs;
      const busy = (): boolean =>
        (lifecycle.watcher?.pending ?? 0) > 0 || (scheduler?.stats().deferredRefs ?? 0) > 0;
      while (busy() && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    close(): void {
      if (closed) return;
      closed = true;
      bridge.close();
      lifecycle.close();
    },
  };
}

function oracleOf(choice: AssemblyOptions['oracle'], log: Logger): MappingOracle | undefined {
  if (choice === 'none') return undefined;
  if (choice !== undefined && 'verdicts' in choice) return choice;
  return new SystemOracle({ log, ...choice });
}

function backendOf(choice: BackendChoice, remote: RemoteMappingSource | undefined): GrantBackend {
  switch (choice.kind) {
    case 'memfd':
      return createGrantBackend('memfd', { remote });
    case 'gntalloc':
      return createGrantBackend('gntalloc', { domid: choice.domid, remote });
    case 'custom':
      return choice.create(remote);
  }
}
