// Starting the bridge for a command (proxy, run) from its flags, through the one bridge
// assembly (bridge/assembly/): buffer-lifetime tracking is always on; grant mode
// re-backs pools on the chosen backend and the reclaim scheduler (--policy) decides when
// their extents go; --record writes the events. E3 evidence comes from one oracle for
// the whole bridge, which judges every process on this kernel (not one pid: SO_PEERCRED
// may name a wrapper that never maps). Beside it: the control socket next to the
// listening socket (`grantway status`), and --metrics. A start that fails — the socket
// is in use, --listen names something else, the compositor is not there, --metrics
// cannot listen — leaves nothing behind that the command set up before it, not even an
// empty --record.

import type { Logger } from 'pino';
import { BridgeControlServer, controlPathFor } from '../control/bridge-control.js';
import type { BridgeMetrics } from '../metrics/metrics.js';
import { MetricsServer } from '../metrics/server.js';
import { SnapshotCollector } from '../ops/collect.js';
import { reclaimTimingHooks } from '../ops/reclaim-timings.js';
import type { ProtocolRegistry } from '../protocol/registry.js';
import type { Bridge } from '../relay/bridge.js';
import { type AssembledBridge, assembleBridge } from '../assembly/assemble.js';
import { limitsFromFlags, policyFromFlags, proxyLimitsFromFlags, traceFor } from './common.js';
import type { BridgeModeOptions, LimitFlags, MetricsAddress } from './options.js';

export interface ServeFlags extends LimitFlags, BridgeModeOptions {
  readonly trace: boolean;
  readonly mode: 'grant' | 'passthrough';
  readonly metrics?: MetricsAddress | undefined;
  readonly control?: string | undefined;
}

export interface ServedBridge {
  readonly bridge: Bridge;
  /** Everything the assembly made (tracking, backend, scheduler); close() releases it. */
  readonly assembled: AssembledBridge;
  /** Where `grantway status` finds it (undefined: no control socket could be made). */
  readonly controlPath: string | undefined;
  /** Where --metrics serves (a path, or host:port). */
  readonly metricsAt: string | undefined;
  /** Stops the control and metrics servers, then the bridge (its clients are cut off). */
  stopServing(): Promise<void>;
}

export async function serveBridge(
  where: {
    readonly listenPath: string;
    readonly upstreamPath: string;
    /** A listening socket passed by a supervisor (socket activation). */
    readonly listenFd?: number | undefined;
  },
  flags: ServeFlags,
  registry: ProtocolRegistry,
  log: Logger,
  argv: readonly string[],
): Promise<ServedBridge> {
  // prom-client takes ~0.2 s to load: only a bridge with --metrics pays for it.
  const metrics: BridgeMetrics | undefined =
    flags.metrics === undefined
      ? undefined
      : new (await import('../metrics/metrics.js')).BridgeMetrics();
  const hooks: Partial<ReturnType<typeof reclaimTimingHooks>> =
    metrics === undefined ? {} : reclaimTimingHooks(metrics);
  const assembled = assembleBridge({
    ...where,
    registry,
    log,
    trace: traceFor(flags.trace),
    limits: limitsFromFlags(flags),
    proxyLimits: proxyLimitsFromFlags(flags),
    mode: flags.mode,
    backend:
      flags.backend === 'gntalloc'
        ? { kind: 'gntalloc', domid: flags.domid ?? 0 }
        : { kind: 'memfd' },
    policy: policyFromFlags(flags),
    recordPath: flags.record,
    source: `grantway ${argv.join(' ')}`,
    whole: flags['whole-extents'],
    poolHooks: hooks.poolHooks,
    schedulerListener: hooks.schedulerListener,
  });
  const bridge = assembled.bridge;
  let control: BridgeControlServer | undefined;
  try {
    const collector = new SnapshotCollector({
      relay: bridge,
      shm: assembled.view,
      upstreamPath: where.upstreamPath,
      mode: flags.mode,
    });
    control = await startControl(flags.control, where.listenPath, collector, bridge, log);
    const metricsServer =
      metrics === undefined || flags.metrics === undefined
        ? undefined
        : await MetricsServer.listen(flags.metrics, metrics, collector);
    if (metricsServer !== undefined) log.info({ metrics: metricsServer.where }, 'serving metrics');
    const served = bridge;
    const controlServer = control;
    return {
      bridge: served,
      assembled,
      controlPath: controlServer?.path,
      metricsAt: metricsServer?.where,
      async stopServing(): Promise<void> {
        await metricsServer?.close();
        await controlServer?.close();
        served.close();
      },
    };
  } catch (err) {
    await control?.close();
    bridge.close();
    assembled.lifecycle.close({ discardRecord: true });
    throw err;
  }
}

/**
 * The control socket: where --control says (its failure is the command's), or beside the
 * listening socket, where a failure is only logged — the bridge serves without it.
 */
async function startControl(
  path: string | undefined,
  listenPath: string,
  collector: SnapshotCollector,
  bridge: Bridge,
  log: Logger,
): Promise<BridgeControlServer | undefined> {
  if (path !== undefined) return BridgeControlServer.listen(path, collector, bridge.holdsLock);
  const beside = controlPathFor(listenPath);
  try {
    return await BridgeControlServer.listen(beside, collector, bridge.holdsLock);
  } catch (err) {
    log.warn(
      { control: beside, reason: err instanceof Error ? err.message : String(err) },
      'no control socket: `grantway status` cannot reach this bridge',
    );
    return undefined;
  }
}
