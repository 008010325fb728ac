// Watching a running proxy (README, "Running it as a service"): --metrics serves
// Prometheus text during a run of weston-simple-shm through a `grantway proxy` process
// on weston headless — pools, grants and the reclaim-latency histograms filled — and
// `grantway status --json`, asked between two scrapes, agrees with them. The live table
// refreshes; the control and metrics sockets are 0600 and go away with the proxy.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commandAvailable } from '../harness/real/process.js';
import { startWeston, westonAvailable, type WestonInstance } from '../harness/real/weston.js';
import { type BridgeSnapshot, bridgeSnapshotSchema } from '../bridge/ops/snapshot.js';
import { scrape, total } from './support/metrics-scrape.js';
import { type ProxyProcess, startProxyProcess } from './support/proxy-process.js';
import { until } from './support/wait.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'bridge', 'cli', 'main.js');

function cli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function simpleShm(weston: WestonInstance, display: string): ChildProcess {
  return spawn('weston-simple-shm', [], {
    env: { ...process.env, XDG_RUNTIME_DIR: weston.runtimeDir, WAYLAND_DISPLAY: display },
    stdio: 'ignore',
  });
}

const runnable = westonAvailable() && commandAvailable('weston-simple-shm');

describe.skipIf(!runnable)('--metrics and grantway status on weston headless', () => {
  let weston: WestonInstance;
  let proxy: ProxyProcess;
  let metricsPath: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    weston = await startWeston({ socketName: 'gw-ops-up' });
    metricsPath = join(weston.runtimeDir, 'gw-ops.metrics');
    proxy = await startProxyProcess({
      listenPath: join(weston.runtimeDir, 'gw-ops'),
      upstreamPath: weston.socketPath,
      args: ['--metrics', metricsPath],
    });
    env = { ...process.env, XDG_RUNTIME_DIR: weston.runtimeDir };
    await until('the metrics socket', () => existsSync(metricsPath));
  });

  afterAll(async () => {
    await proxy?.stop();
    await weston?.stop();
  });

  it('shows pools, grants and reclaim latencies during weston-simple-shm, and status --json agrees', async () => {
    // A first client comes and goes: its pools are let go of, unmapped (E3) and freed.
    const first = simpleShm(weston, 'gw-ops');
    await until('a first pool', async () => total(await scrape(metricsPath), 'grantway_pools') > 0);
    first.kill('SIGTERM');
    await until(
      'its grants back',
      async () =>
        total(await scrape(metricsPath), 'grantway_reclaim_e3_to_freed_seconds_count') > 0,
    );
    // A second one runs while we look.
    const second = simpleShm(weston, 'gw-ops');
    try {
      await until(
        'the second pool',
        async () => total(await scrape(metricsPath), 'grantway_pools') > 0,
      );
      const before = await scrape(metricsPath);
      const asked = await cli(['status', '--listen', 'gw-ops', '--json'], env);
      const after = await scrape(metricsPath);
      expect(asked.stderr).toBe('');
      expect(asked.code).toBe(0);
      const status: BridgeSnapshot = bridgeSnapshotSchema.parse(JSON.parse(asked.stdout));

      // What a scrape during the run shows.
      for (const m of [before, after]) {
        expect(m.get('grantway_clients')).toBe(1);
        expect(total(m, 'grantway_pools')).toBeGreaterThan(0);
        expect(total(m, 'grantway_grants')).toBeGreaterThan(0);
        expect(m.get('grantway_reclaim_let_go_to_e3_seconds_count')).toBeGreaterThan(0);
        expect(m.get('grantway_reclaim_e3_to_freed_seconds_count')).toBeGreaterThan(0);
        expect(m.get('grantway_copy_bytes_total')).toBeGreaterThan(0);
        expect(m.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
        expect(m.get('process_resident_memory_bytes')).toBeGreaterThan(0);
      }

      // Status agrees: what does not change during a steady run is equal…
      expect(status.clients).toHaveLength(before.get('grantway_clients')!);
      expect(status.clients[0]!.comm).toBe('weston-simple-s');
      const pools = Object.values(status.shm.pools).reduce((a, b) => a + b, 0);
      const grants = Object.values(status.shm.grants).reduce((a, b) => a + b, 0);
      if (process.env.GW_OPS_REPORT) {
        const h = (name: string): string =>
          `${before.get(`${name}_count`)} observations, sum ${(before.get(`${name}_sum`)! * 1000).toFixed(1)} ms`;
        console.log(
          `[ops] scrape during weston-simple-shm: pools ${total(before, 'grantway_pools')}, grants ${total(before, 'grantway_grants')}, refs in use ${before.get('grantway_grant_refs{state="in_use"}')}, shm held ${before.get('grantway_shm_held_bytes')} B; let go → E3 ${h('grantway_reclaim_let_go_to_e3_seconds')}; E3 → freed ${h('grantway_reclaim_e3_to_freed_seconds')}; copies ${before.get('grantway_copies_total')}; status --json: pools ${pools}, grants ${grants}, refs in use ${status.shm.refs.inUse}, shm held ${status.shm.heldBytes} B`,
        );
      }
      for (const m of [before, after]) {
        expect(total(m, 'grantway_pools')).toBe(pools);
        expect(total(m, 'grantway_grants')).toBe(grants);
        expect(m.get('grantway_shm_held_bytes')).toBe(status.shm.heldBytes);
        expect(m.get('grantway_grant_refs{state="in_use"}')).toBe(status.shm.refs.inUse);
        expect(m.get('grantway_clients_accepted_total')).toBe(status.relay.accepted);
        expect(m.get('grantway_limit{limit="maxShmTotalAll"}')).toBe(
          status.limits.proxy.maxShmTotalAll,
        );
      }
      // …and what grows lies between the scrape before and the one after.
      const between = (name: string, value: number): void => {
        expect(value).toBeGreaterThanOrEqual(before.get(name)!);
        expect(value).toBeLessThanOrEqual(after.get(name)!);
      };
      between('grantway_messages_total{direction="to_compositor"}', status.relay.requests);
      between('grantway_messages_total{direction="to_client"}', status.relay.events);
      between('grantway_bytes_total{direction="to_client"}', status.relay.bytesToClient);
      between('grantway_copies_total', status.shm.copies.commits);
      between('grantway_end_access_attempts_total', status.shm.endAccess.attempts);
      expect(status.shm.endAccess.failures).toBe(0);
    } finally {
      second.kill('SIGTERM');
    }
  });

  it('refreshes a table of clients until interrupted', async () => {
    const shm = simpleShm(weston, 'gw-ops');
    try {
      await until(
        'a client',
        async () => (await scrape(metricsPath)).get('grantway_clients') === 1,
      );
      const child = spawn(
        process.execPath,
        [CLI, 'status', '--listen', 'gw-ops', '--interval-ms', '200'],
        { env },
      );
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      await until('two refreshes', () => out.split('SESSION').length > 2, 10_000);
      child.kill('SIGINT');
      const code = await new Promise((resolve) => child.once('close', resolve));
      expect(code).toBe(0);
      expect(out).toMatch(/^clients {4}1 of \d+/m);
      expect(out).toMatch(/weston-simple-s/);
      expect(out).toMatch(/^grants {5}\d+ \(E0 \d+, E1 \d+, E2 \d+, E3 \d+\)/m);
    } finally {
      shm.kill('SIGTERM');
    }
  });

  it('keeps its sockets to its owner and removes them when it stops', async () => {
    const control = `${proxy.listenPath}.control`;
    expect(statSync(control).mode & 0o777).toBe(0o600);
    expect(statSync(metricsPath).mode & 0o777).toBe(0o600);
    await proxy.stop();
    expect(existsSync(control)).toBe(false);
    expect(existsSync(metricsPath)).toBe(false);
    expect(existsSync(proxy.listenPath)).toBe(false);
    expect(existsSync(`${proxy.listenPath}.lock`)).toBe(false);
    const gone = await cli(['status', '--listen', 'gw-ops', '--json'], env);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/^grantway: no bridge answers at .*gw-ops\.control/);
  });
});
