// The CI-sized soak (issue 6, item 4): the same run as `npm run soak`, short. Dozens of
// clients animate with partial damage and churn their pools through ONE bridge running
// in its own process as deployed, on weston headless (the embedded compositor when weston
// is not installed), and the run must keep every promise the 10-minute soak checks: no
// crash, no protocol error, no disconnect, no frame lost, RSS/fds/grants flat, and every
// grant and fd given back once the clients are gone.

import { describe, expect, it } from 'vitest';
import { westonAvailable } from '../harness/real/weston.js';
import { runSoak, type SoakResult, type SoakSample } from '../scripts/soak/run.js';
import { formatTable } from '../scripts/soak/table.js';
import { judge } from '../scripts/soak/verdict.js';

const compositor = westonAvailable() ? 'weston' : 'embedded';
const CLIENTS = 32;
const SECONDS = 20;

describe(`load: ${CLIENTS} clients through one bridge process on ${compositor}`, () => {
  it(`holds for ${SECONDS} s with nothing lost, nothing growing, everything given back`, async () => {
    const result = await runSoak({
      seconds: SECONDS,
      clients: CLIENTS,
      direct: 4,
      workers: 2,
      compositor,
      // Twice the soak's churn rate, so a short run still recycles every pool ~10 times.
      churnEveryFrames: 60,
      probeEveryFrames: 10,
      real: 2,
    });
    console.log(formatTable(result));

    const failed = result.verdict.checks
      .filter((c) => !c.pass)
      .map((c) => `${c.name}: ${c.detail}`);
    expect(failed).toEqual([]);
    expect(result.verdict.pass).toBe(true);

    // It measured what it claims to: a sample a second, every client animating, churn,
    // a direct baseline in the same run.
    expect(result.samples.length).toBeGreaterThanOrEqual(SECONDS - 1);
    expect(result.clients).toHaveLength(CLIENTS + 4);
    for (const c of result.clients) expect(c.delivered, `client ${c.id}`).toBeGreaterThan(0);
    const pools = result.clients
      .filter((c) => c.route === 'bridge')
      .reduce((a, c) => a + c.poolsCreated, 0);
    expect(pools).toBeGreaterThan(CLIENTS * 3);
    expect(result.frameLatency.direct.samples).toBeGreaterThan(0);
    expect(result.roundtripLatency.bridge.samples).toBeGreaterThan(0);
    expect(Math.max(...result.samples.map((s) => s.bridge.extents))).toBeGreaterThanOrEqual(
      CLIENTS,
    );
  }, 90_000);
});

// The checks must be able to fail: a run that leaks (RSS, fds and grants climbing, not
// given back) and loses a frame is judged on made-up samples.
describe('load verdict', () => {
  const sample = (t: number, leak: number): SoakSample => ({
    t,
    bridge: {
      rssKiB: 100_000 + leak * 2_000,
      fds: 100 + leak * 3,
      extents: 30 + leak,
      cpuPercent: 20,
      runQueuePercent: 0,
    },
    compositorCpuPercent: 30,
    compositorRunQueuePercent: 0,
    workersCpuPercent: 15,
    workerLoopDelayP99Ms: 5,
    framesPerSecond: { bridge: 600, direct: 60 },
    frameP99Ms: { bridge: 30, direct: 30 },
    clientFailures: 0,
    load1: 1,
  });
  const run = (leak: number): Omit<SoakResult, 'verdict'> => {
    const client = (id: number, lost: number) => ({
      id,
      route: 'bridge' as const,
      committed: 1000 + lost,
      delivered: 1000,
      poolsCreated: 10,
      buffersCreated: 20,
      releaseWaits: 0,
      probes: 100,
      finished: lost === 0,
      failures: [],
    });
    const none = { samples: 0, p50Ms: 1, p99Ms: 1, maxMs: 1 };
    return {
      options: {
        seconds: 120,
        clients: 10,
        direct: 0,
        workers: 1,
        compositor: 'weston',
        churnEveryFrames: 120,
        probeEveryFrames: 10,
        real: 0,
      },
      startedAt: '',
      compositorPid: 1,
      bridgePid: 2,
      idle: { fds: 20, rssKiB: 80_000, extents: 0 },
      samples: Array.from({ length: 120 }, (_, i) => sample(i + 1, (leak * (i + 1)) / 4)),
      clients: Array.from({ length: 10 }, (_, id) => client(id, leak > 0 && id === 3 ? 1 : 0)),
      real: { started: 0, failures: [] },
      frameLatency: { bridge: none, direct: none },
      roundtripLatency: { bridge: none, direct: none },
      drained: { fds: 20 + leak, extents: leak, rssKiB: 90_000, waitedMs: 20_000 },
      crashes: [],
      bridgeLog: { warnings: 0, errors: 0, protocolErrors: 0, messages: {} },
      loadAverage: [1, 1, 1],
    };
  };

  it('passes a flat run and fails a leaking one on exactly the leak checks', () => {
    expect(judge(run(0)).checks.filter((c) => !c.pass)).toEqual([]);
    const failed = judge(run(1))
      .checks.filter((c) => !c.pass)
      .map((c) => c.name);
    expect(failed).toEqual([
      'no frame lost',
      'RSS not growing',
      'fds not growing',
      'grants bounded',
      'all grants and fds back',
    ]);
  });
});
