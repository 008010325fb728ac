// A soak worker process: hosts many SoakClients on one Node event loop (libwayland via
// FFI), forked by scripts/soak/run.ts. Bridge clients and direct (baseline) clients
// share each worker, so the worker's own scheduling delay lands on both alike and the
// difference between their latencies is what the bridge adds.

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LatencyHistogram } from './histogram.js';
import { SoakClient } from './client.js';
import type {
  OrchestratorMessage,
  Route,
  RouteProgress,
  WorkerConfig,
  WorkerMessage,
} from './messages.js';

const OPEN_BATCH = 8;
const PROGRESS_MS = 1000;

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (process.send === undefined) resolve();
    else process.send(message, undefined, {}, () => resolve());
  });
}

// Messages in arrival order; none is lost between one await and the next.
const inbox: OrchestratorMessage[] = [];
let wakeInbox: (() => void) | null = null;
process.on('message', (m) => {
  inbox.push(m as OrchestratorMessage);
  wakeInbox?.();
  wakeInbox = null;
});

async function nextMessage(): Promise<OrchestratorMessage> {
  while (inbox.length === 0) await new Promise<void>((resolve) => (wakeInbox = resolve));
  return inbox.shift()!;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function progressOf(clients: readonly SoakClient[], route: Route): RouteProgress {
  const mine = clients.filter((c) => c.spec.route === route);
  const interval = new LatencyHistogram();
  for (const c of mine) interval.merge(c.takeInterval().snapshot());
  return {
    delivered: mine.reduce((sum, c) => sum + c.delivered, 0),
    frameP99Ms: interval.quantileMs(0.99),
  };
}

async function main(): Promise<void> {
  const first = await nextMessage();
  if (first.type !== 'config') throw new Error(`expected config, got ${first.type}`);
  const config: WorkerConfig = first.config;
  const clients: SoakClient[] = [];
  try {
    for (let i = 0; i < config.clients.length; i += OPEN_BATCH) {
      const batch = config.clients.slice(i, i + OPEN_BATCH);
      clients.push(...(await Promise.all(batch.map((spec) => SoakClient.open(spec)))));
    }
    await send({ type: 'ready', worker: config.worker, opened: clients.length });

    const start = await nextMessage();
    if (start.type !== 'start') throw new Error(`expected start, got ${start.type}`);
    let stopping = false;
    const stopped = nextMessage().then(() => {
      stopping = true;
    });
    const loopDelay = monitorEventLoopDelay({ resolution: 5 });
    loopDelay.enable();
    const timer = setInterval(() => {
      const loopDelayP99Ms = loopDelay.percentile(99) / 1e6;
      loopDelay.reset();
      void send({
        loopDelayP99Ms,
        type: 'progress',
        worker: config.worker,
        bridge: progressOf(clients, 'bridge'),
        direct: progressOf(clients, 'direct'),
        failures: clients.reduce((sum, c) => sum + c.failures.length, 0),
      });
    }, PROGRESS_MS);
    const runs = clients.map((c) => c.run(() => stopping));
    await stopped;
    clearInterval(timer);
    loopDelay.disable();
    // Every frame in flight gets drainMs to see its callback; one that does not is lost.
    await Promise.race([Promise.all(runs), sleep(config.drainMs)]);

    const routeSnapshots = (pick: (c: SoakClient) => LatencyHistogram, route: Route) => {
      const h = new LatencyHistogram();
      for (const c of clients) if (c.spec.route === route) h.merge(pick(c).snapshot());
      return h.snapshot();
    };
    await send({
      type: 'result',
      worker: config.worker,
      clients: clients.map((c) => c.totals()),
      frame: {
        bridge: routeSnapshots((c) => c.frameLatency, 'bridge'),
        direct: routeSnapshots((c) => c.frameLatency, 'direct'),
      },
      roundtrip: {
        bridge: routeSnapshots((c) => c.roundtripLatency, 'bridge'),
        direct: routeSnapshots((c) => c.roundtripLatency, 'direct'),
      },
    });
  } finally {
    for (const c of clients) c.close();
  }
}

// Orphaned (the orchestrator died): nothing left to report to.
process.once('disconnect', () => process.exit(2));

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    await send({
      type: 'fatal',
      worker: -1,
      message: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
    process.exit(1);
  },
);
