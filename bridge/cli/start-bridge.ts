// Starting the bridge for a command (proxy, run) from its flags: the relay, buffer-lifetime
// tracking, the control socket beside the listening socket (`grantway status`), and
// --metrics. A start that fails — the socket is in use, --listen names something else,
// the compositor is not there, --metrics cannot listen — leaves nothing behind that the
// command set up before it, not even an empty --record.

import type { Logger } from 'pino';
import { BridgeControlServer, controlPathFor } from '../control/bridge-control.js';
import type { BridgeMetrics } from '../metrics/metrics.js';
import { MetricsServer } from '../metrics/server.js';
import { SnapshotCollector } from '../ops/collect.js';
import { reclaimTimingHooks } from '../ops/reclaim-timings.js';
import type { ProtocolRegistry } from '../protocol/registry.js';
import { Bridge } from '../relay/bridge.js';
import { resolveClientLimits } from '../relay/limits.js';
import { resolveProxyLimits } from '../relay/proxy-limits.js';
import {
  createShmTracking,
  limitsFromFlags,
  proxyLimitsFromFlags,
  type ShmTracking,
  traceFor,
} from './common.js';
import type { BridgeModeOptions, LimitFlags, MetricsAddress } from './options.js';

export interface ServeFlags extends LimitFlags, BridgeModeOptions {
  readonly trace: boolean;
  readonly mode: 'grant' | 'passthrough';
  readonly metrics?: MetricsAddress | undefined;
  readonly control?: string | undefined;
}

export interface ServedBridge {
  readonly bridge: Bridge;
  readonly tracking: ShmTracking;
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
  const limits = resolveClientLimits(limitsFromFlags(flags));
  const proxyLimits = resolveProxyLimits(proxyLimitsFromFlags(flags), limits);
  // prom-client takes ~0.2 s to load: only a bridge with --metrics pays for it.
  const metrics: BridgeMetrics | undefined =
    flags.metrics === undefined
      ? undefined
      : new (await import('../metrics/metrics.js')).BridgeMetrics();
  const tracking = createShmTracking(
    flags,
    argv,
    log,
    proxyLimits.maxShmTotalAll,
    metrics === undefined ? {} : reclaimTimingHooks(metrics),
  );
  let bridge: Bridge | undefined;
  let control: BridgeControlServer | undefined;
  try {
    bridge = Bridge.start({
      ...where,
      registry,
      log,
      trace: traceFor(flags.trace),
      observe: tracking.lifecycle.factory,
      limits,
      proxyLimits,
    });
    const collector = new SnapshotCollector({
      relay: bridge,
      shm: tracking.view,
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
      tracking,
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
    bridge?.close();
    tracking.lifecycle.close({ discardRecord: true });
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
