// The bridge's metrics in Prometheus' text format, with prom-client: one registry, whose
// series are set from a BridgeSnapshot (bridge/ops/snapshot.ts) when scraped — the same
// snapshot `grantway status` shows, so the two agree — plus the two reclaim-latency
// histograms, which only events can fill (observed once per pool or grant, never per
// message), and prom-client's process and Node metrics (RSS, fds, heap, and event-loop
// lag from perf_hooks.monitorEventLoopDelay).
//
// Nothing here runs while the bridge relays: counters that the snapshot carries as
// running totals are set to them at scrape time. The bridge runs without this module;
// it is created only with --metrics.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { evidenceLevels } from '../shm/events.js';
import type { ReclaimTimingSink } from '../ops/reclaim-timings.js';
import type { BridgeSnapshot } from '../ops/snapshot.js';

/** Reclaim latencies span a frame to minutes (a policy such as linux-deferred). */
const LATENCY_BUCKETS = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 300,
];

export class BridgeMetrics implements ReclaimTimingSink {
  readonly registry = new Registry();
  private readonly gauges: ReturnType<BridgeMetrics['makeGauges']>;
  private readonly counters: ReturnType<BridgeMetrics['makeCounters']>;
  private readonly letGoToE3Seconds: Histogram;
  private readonly e3ToFreedSeconds: Histogram;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.gauges = this.makeGauges();
    this.counters = this.makeCounters();
    this.letGoToE3Seconds = new Histogram({
      name: 'grantway_reclaim_let_go_to_e3_seconds',
      help: 'Time from a client letting go of a pool (destroyed it and its buffers, or left) to E3: no process but the bridge maps or holds it',
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
    this.e3ToFreedSeconds = new Histogram({
      name: 'grantway_reclaim_e3_to_freed_seconds',
      help: 'Time from a grant extent being known unmapped (E3) to the reclaim policy freeing it',
      buckets: LATENCY_BUCKETS,
      registers: [this.registry],
    });
  }

  letGoToE3(ms: number): void {
    this.letGoToE3Seconds.observe(Math.max(0, ms) / 1000);
  }

  e3ToFreed(ms: number): void {
    this.e3ToFreedSeconds.observe(Math.max(0, ms) / 1000);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text with every series set from `snapshot`. */
  async render(snapshot: BridgeSnapshot): Promise<string> {
    this.update(snapshot);
    return this.registry.metrics();
  }

  private update(s: BridgeSnapshot): void {
    const g = this.gauges;
    const c = this.counters;
    g.clients.set(s.clients.length);
    for (const [name, value] of Object.entries({ ...s.limits.client, ...s.limits.proxy })) {
      g.limit.set({ limit: name }, value);
    }
    for (const level of evidenceLevels) {
      g.pools.set({ evidence: level }, s.shm.pools[level]);
      g.grants.set({ evidence: level }, s.shm.grants[level]);
    }
    g.poolsLetGo.set(s.shm.poolsLetGo);
    for (const [phase, n] of Object.entries(s.shm.grantPhases)) g.grantPhases.set({ phase }, n);
    g.refs.set({ state: 'in_use' }, s.shm.refs.inUse);
    g.refs.set({ state: 'deferred' }, s.shm.refs.deferred);
    g.refs.set({ state: 'cached' }, s.shm.refs.cached);
    g.deferredPeak.set(s.shm.refs.deferredPeak);
    g.extentsWaiting.set(s.shm.extentsWaiting);
    g.oldestWaiting.set(s.shm.oldestWaiting?.waitingSeconds ?? 0);
    g.shmHeld.set(s.shm.heldBytes);

    // Running totals from the snapshot: each counter is set to its total.
    const set = (counter: Counter, value: number, labels?: Record<string, string>): void => {
      if (labels === undefined) {
        counter.reset();
        counter.inc(value);
      } else counter.inc(labels, value);
    };
    for (const counter of [c.refused, c.protocolErrors, c.limitsHit, c.messages, c.bytes]) {
      counter.reset();
    }
    set(c.accepted, s.relay.accepted);
    for (const [reason, n] of Object.entries(s.relay.refused)) set(c.refused, n, { reason });
    for (const e of s.relay.protocolErrors) {
      set(c.protocolErrors, e.count, { by: e.by, interface: e.interface, code: String(e.code) });
    }
    for (const [limit, n] of Object.entries(s.relay.limitsHit)) set(c.limitsHit, n, { limit });
    set(c.messages, s.relay.requests, { direction: 'to_compositor' });
    set(c.messages, s.relay.events, { direction: 'to_client' });
    set(c.bytes, s.relay.bytesToCompositor, { direction: 'to_compositor' });
    set(c.bytes, s.relay.bytesToClient, { direction: 'to_client' });
    set(c.endAccessAttempts, s.shm.endAccess.attempts);
    set(c.endAccessFailures, s.shm.endAccess.failures);
    set(c.grantsReused, s.shm.grantsReused);
    set(c.copies, s.shm.copies.commits);
    set(c.copyBytes, s.shm.copies.bytes);
    set(c.copySeconds, s.shm.copies.seconds);
    set(c.oracleLooks, s.shm.oracleLooks);
  }

  private makeGauges() {
    const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new Gauge<L>({ name, help, labelNames, registers: [this.registry] });
    return {
      clients: gauge('grantway_clients', 'Clients served now'),
      limit: gauge('grantway_limit', 'Configured limits (per client and proxy-wide)', ['limit']),
      pools: gauge(
        'grantway_pools',
        'wl_shm pools not final yet (alive, or let go and not yet unmapped), by evidence level',
        ['evidence'],
      ),
      poolsLetGo: gauge(
        'grantway_pools_let_go',
        'Pools the client let go of that the compositor may still map',
      ),
      grants: gauge(
        'grantway_grants',
        'Grant extents not freed, by evidence level (of their pool while it is tracked)',
        ['evidence'],
      ),
      grantPhases: gauge(
        'grantway_grants_by_phase',
        'Grant extents not freed: backing a pool, retired to the reclaim policy, cached for reuse, access ended',
        ['phase'],
      ),
      refs: gauge('grantway_grant_refs', 'Grant refs (pages) by state', ['state']),
      deferredPeak: gauge(
        'grantway_grant_refs_deferred_peak',
        'The most grant refs let go of and not yet freed at once (the deferred queue), since the start',
      ),
      extentsWaiting: gauge(
        'grantway_extents_waiting',
        'Pools let go of and extents retired, neither yet reclaimed',
      ),
      oldestWaiting: gauge(
        'grantway_oldest_waiting_seconds',
        'How long the extent waiting longest has waited (0: none waits)',
      ),
      shmHeld: gauge(
        'grantway_shm_held_bytes',
        'Shared memory held for all clients: what their pools are charged plus extents not yet reclaimed (maxShmTotalAll counts this)',
      ),
    };
  }

  private makeCounters() {
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
      new Counter<L>({ name, help, labelNames, registers: [this.registry] });
    return {
      accepted: counter('grantway_clients_accepted_total', 'Clients accepted'),
      refused: counter(
        'grantway_clients_refused_total',
        'Connections refused before being served, by reason (a limit, fd table full…)',
        ['reason'],
      ),
      protocolErrors: counter(
        'grantway_protocol_errors_total',
        'wl_display.error sent to clients, by who posted it (bridge or compositor), interface and code',
        ['by', 'interface', 'code'],
      ),
      limitsHit: counter(
        'grantway_limits_hit_total',
        'Clients cut off or refused for going over a limit, by limit',
        ['limit'],
      ),
      messages: counter('grantway_messages_total', 'Messages relayed, by direction', ['direction']),
      bytes: counter('grantway_bytes_total', 'Bytes relayed, by direction', ['direction']),
      endAccessAttempts: counter(
        'grantway_end_access_attempts_total',
        'Attempts to end foreign access to a grant extent',
      ),
      endAccessFailures: counter(
        'grantway_end_access_failures_total',
        'End-access attempts refused because the extent was still mapped',
      ),
      grantsReused: counter(
        'grantway_grants_reused_total',
        'Extents the reclaim policy kept and handed to a new pool instead of freeing',
      ),
      copies: counter('grantway_copies_total', 'Commits whose buffer was copied into its extent'),
      copyBytes: counter(
        'grantway_copy_bytes_total',
        'Bytes copied from client pools into extents',
      ),
      copySeconds: counter('grantway_copy_seconds_total', 'Time spent copying into extents'),
      oracleLooks: counter(
        'grantway_oracle_looks_total',
        'Looks the E3 oracle took for pools waiting to be unmapped',
      ),
    };
  }
}
