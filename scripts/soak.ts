// `npm run soak`: the load-and-soak run of issue 6 item 4 — 64 clients with frames and
// buffer churn through one bridge (its own process) on weston headless for 10 minutes
// by default; prints a summary table and PASS/FAIL, writes the time series as JSON, and
// exits non-zero on FAIL so CI or a cron job can run it as is.
//
//   npm run soak -- --seconds 600 --clients 64 --compositor weston --json soak.json

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { westonAvailable } from '../harness/real/weston.js';
import { type CompositorKind, defaultSoakOptions, runSoak } from './soak/run.js';
import { formatTable } from './soak/table.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: String(defaultSoakOptions.seconds) },
    clients: { type: 'string', default: String(defaultSoakOptions.clients) },
    direct: { type: 'string', default: String(defaultSoakOptions.direct) },
    workers: { type: 'string', default: String(defaultSoakOptions.workers) },
    compositor: { type: 'string', default: defaultSoakOptions.compositor },
    churn: { type: 'string', default: String(defaultSoakOptions.churnEveryFrames) },
    probe: { type: 'string', default: String(defaultSoakOptions.probeEveryFrames) },
    real: { type: 'string', default: String(defaultSoakOptions.real) },
    json: { type: 'string', default: 'tmp/soak-result.json' },
    'bridge-arg': { type: 'string', multiple: true, default: [] },
    quiet: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

const USAGE = `usage: npm run soak -- [--seconds N] [--clients N] [--direct N] [--workers N]
                        [--compositor weston|embedded] [--churn FRAMES] [--probe FRAMES] [--real N]
                        [--json FILE] [--bridge-arg ARG]... [--quiet]
  --seconds     length of the run (default ${defaultSoakOptions.seconds})
  --clients     clients through the bridge (default ${defaultSoakOptions.clients})
  --direct      baseline clients straight to the compositor (default ${defaultSoakOptions.direct})
  --workers     client worker processes (default ${defaultSoakOptions.workers})
  --churn       frames between pool/buffer churns per client (default ${defaultSoakOptions.churnEveryFrames})
  --probe       frames between timed wl_display.sync roundtrips (default ${defaultSoakOptions.probeEveryFrames})
  --real        weston-simple-shm processes through the bridge as well (default ${defaultSoakOptions.real})
  --json        where the time series and figures go (default tmp/soak-result.json;
                tmp/ is git-ignored)
  --bridge-arg  an extra 'grantway proxy' argument, e.g. --bridge-arg=--policy=qubes
`;

function positive(name: string, raw: string, min = 1): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
  return n;
}

async function main(): Promise<number> {
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const compositor = values.compositor;
  if (compositor !== 'weston' && compositor !== 'embedded') {
    throw new Error('--compositor must be weston or embedded');
  }
  if (compositor === 'weston' && !westonAvailable()) {
    throw new Error('weston is not installed; use --compositor embedded');
  }
  const result = await runSoak({
    seconds: positive('seconds', values.seconds),
    clients: positive('clients', values.clients),
    direct: positive('direct', values.direct, 0),
    workers: positive('workers', values.workers),
    compositor: compositor satisfies CompositorKind,
    churnEveryFrames: positive('churn', values.churn, 10),
    probeEveryFrames: positive('probe', values.probe),
    real: positive('real', values.real, 0),
    bridgeArgs: values['bridge-arg'],
    onProgress: values.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
  });
  mkdirSync(dirname(values.json), { recursive: true });
  writeFileSync(values.json, `${JSON.stringify(result, null, 1)}\n`);
  process.stdout.write(formatTable(result));
  process.stdout.write(`time series and figures: ${values.json}\n`);
  return result.verdict.pass ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`soak failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 2;
  },
);
