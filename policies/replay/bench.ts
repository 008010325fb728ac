// The policy benchmark (`grantway bench policies`): every policy × every trace × every
// remote model, replayed, one row each. Pure apart from reading the recorded fixtures:
// the CLI adds the progress bar, the table, --json and --html.

import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LifecycleTrace } from '../../bridge/shm/index.js';
import { readLifecycleTrace } from '../../bridge/shm/index.js';
import { createPolicy } from '../registry.js';
import { GENERATOR_NAMES, generateTrace, steadyTrace } from './generators.js';
import { REMOTE_MODEL_NAMES, type RemoteModelName, remoteModel } from './remote.js';
import { type ReplayResult, replayTrace } from './replay.js';

export interface BenchTrace {
  readonly name: string;
  readonly kind: 'recorded' | 'synthetic';
  readonly trace: LifecycleTrace;
}

/** A policy as the bench runs it: a label, a registry name, its options. */
export interface BenchPolicy {
  readonly label: string;
  readonly policy: string;
  readonly options: Readonly<Record<string, string>>;
}

export const BENCH_POLICIES: readonly BenchPolicy[] = [
  { label: 'linux-deferred', policy: 'linux-deferred', options: {} },
  { label: 'qubes', policy: 'qubes', options: {} },
  { label: 'evidence-E3', policy: 'evidence', options: { level: 'E3' } },
  { label: 'evidence-E2', policy: 'evidence', options: { level: 'E2' } },
  { label: 'watermark', policy: 'watermark', options: {} },
  { label: 'recycle', policy: 'recycle', options: {} },
];

export interface BenchRow extends ReplayResult {
  readonly trace: string;
  readonly traceKind: 'recorded' | 'synthetic';
  /** The bench label of the policy (ReplayResult.policy is the policy's own name). */
  readonly label: string;
  /** Refs the trace allocates per second of trace time (its churn). */
  readonly traceRefsPerSecond: number;
}

export interface BenchOptions {
  readonly traces: readonly BenchTrace[];
  readonly policies?: readonly BenchPolicy[];
  readonly remotes?: readonly RemoteModelName[];
  readonly seed?: number;
  /** Called after each replay with (done, total, the row). */
  readonly onProgress?: (done: number, total: number, row: BenchRow) => void;
}

export function runBench(options: BenchOptions): BenchRow[] {
  const policies = options.policies ?? BENCH_POLICIES;
  const remotes = options.remotes ?? REMOTE_MODEL_NAMES;
  const total = options.traces.length * remotes.length * policies.length;
  const rows: BenchRow[] = [];
  // Warm-up: one short replay per policy first, so that JIT compilation is not billed
  // to whichever trace happens to come first in the CPU column.
  const warmup = steadyTrace({ durationMs: 500 });
  for (const p of policies) {
    replayTrace({
      trace: warmup,
      policy: createPolicy(p.policy, p.options),
      remote: remoteModel('lazy'),
    });
  }
  for (const t of options.traces) {
    const churn = refsPerSecond(t.trace);
    for (const remote of remotes) {
      for (const p of policies) {
        const result = replayTrace({
          trace: t.trace,
          policy: createPolicy(p.policy, p.options),
          remote: remoteModel(remote),
          seed: options.seed ?? 1,
        });
        const row: BenchRow = {
          ...result,
          trace: t.name,
          traceKind: t.kind,
          label: p.label,
          traceRefsPerSecond: churn,
        };
        rows.push(row);
        options.onProgress?.(rows.length, total, row);
      }
    }
  }
  return rows;
}

function refsPerSecond(trace: LifecycleTrace): number {
  let refs = 0;
  let end = 0;
  for (const e of trace.events) {
    if (e.type === 'pool-created') refs += e.pages;
    end = Math.max(end, e.t);
  }
  return end > 0 ? Math.round((refs * 1000) / end) : 0;
}

/** The repository's fixtures/traces, found upward from this module (source or dist). */
export function defaultTraceDir(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'fixtures', 'traces');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return undefined;
}

/** Recorded traces (`*.jsonl` of a directory, or the given files) then the generators. */
export function loadBenchTraces(
  files: readonly string[] | undefined,
  withSynthetic = true,
): BenchTrace[] {
  const traces: BenchTrace[] = [];
  let paths = files ?? [];
  if (files === undefined) {
    const dir = defaultTraceDir();
    paths =
      dir === undefined
        ? []
        : readdirSync(dir)
            .filter((f) => f.endsWith('.jsonl'))
            .sort()
            .map((f) => join(dir, f));
  }
  for (const path of paths) {
    const name = path.replace(/^.*\//, '').replace(/\.jsonl$/, '');
    traces.push({ name, kind: 'recorded', trace: readLifecycleTrace(path) });
  }
  if (withSynthetic) {
    for (const name of GENERATOR_NAMES) {
      traces.push({ name, kind: 'synthetic', trace: generateTrace(name) });
    }
  }
  return traces;
}
