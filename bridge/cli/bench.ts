// `grantway bench policies [TRACE.jsonl…]`: every reclaim policy × every trace (the
// recorded fixtures, or the files given, plus the synthetic generators) × every remote
// model, replayed (policies/replay); a table on stdout with a progress bar on stderr,
// `--json` for machines, `--html FILE` for a self-contained report with plots.

import { writeFileSync } from 'node:fs';
import {
  PolicyOptionError,
  UnknownPolicyError,
  createPolicy,
  parsePolicyOptions,
} from '../../policies/index.js';
import {
  type BenchPolicy,
  type BenchRow,
  loadBenchTraces,
  runBench,
  renderHtmlReport,
  formatTable,
} from '../../policies/replay/index.js';
import { OptionError, benchOptionsSchema, validateOptions } from './options.js';

const BENCH_USAGE =
  'grantway bench policies [TRACE.jsonl...] [--json] [--html FILE] [--policy NAME [--policy-opt K=V]...]';

/** A progress bar on stderr, redrawn in place; nothing at all when stderr is not a TTY. */
function progressBar(): ((done: number, total: number, row: BenchRow) => void) | undefined {
  const stream = process.stderr;
  if (stream.isTTY !== true) return undefined;
  return (done, total, row) => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    const label = `${row.trace} / ${row.remote} / ${row.label}`;
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`;
    const columns = stream.columns ?? 100;
    stream.write(`\r${line.slice(0, columns - 1).padEnd(Math.min(columns - 1, line.length + 20))}`);
    if (done === total) stream.write('\r\x1b[2K');
  };
}

/** `--policy` restricts the bench to one configured policy (validated like the bridge's). */
function selectedPolicies(flags: Record<string, unknown>): BenchPolicy[] | undefined {
  if (typeof flags.policy !== 'string') return undefined;
  const pairs = Array.isArray(flags['policy-opt']) ? (flags['policy-opt'] as string[]) : [];
  try {
    const options = parsePolicyOptions(flags.policy, pairs);
    const label = createPolicy(flags.policy, options).name;
    return [{ label, policy: flags.policy, options }];
  } catch (err) {
    if (err instanceof UnknownPolicyError || err instanceof PolicyOptionError) {
      throw new OptionError(`--policy: ${err.message}`);
    }
    throw err;
  }
}

export function benchCommand(flags: Record<string, unknown>, positionals: string[]): number {
  const [what, ...files] = positionals;
  if (what !== 'policies') {
    throw new OptionError(`bench: the benchmark to run is "policies" (${BENCH_USAGE})`);
  }
  const options = validateOptions(benchOptionsSchema, { json: flags.json, html: flags.html });
  const policies = selectedPolicies(flags);
  // Trace files given: just those; none: the recorded fixtures and the synthetic ones.
  const traces =
    files.length > 0 ? loadBenchTraces(files, false) : loadBenchTraces(undefined, true);
  const rows = runBench({
    traces,
    ...(policies === undefined ? {} : { policies }),
    onProgress: progressBar(),
  });
  const generatedAt = new Date().toISOString();
  if (options.html !== undefined) {
    writeFileSync(options.html, renderHtmlReport(rows, { generatedAt }));
    process.stderr.write(`grantway: report written to ${options.html}\n`);
  }
  if (options.json) {
    const slim = rows.map(({ series: _series, ...row }) => row);
    process.stdout.write(`${JSON.stringify({ generatedAt, rows: slim }, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatTable(rows)}\n`);
  }
  return 0;
}
