// `grantway demo` (the README's first command, `npm run demo`): runs the demo with a
// progress bar on a terminal and prints its summary table.

import { resolve } from 'node:path';
import { z } from 'zod';
import { runDemo, type DemoResult } from '../../harness/index.js';
import { createLogger } from '../log.js';
import { policyFromFlags } from './common.js';
import { logLevels, validateOptions } from './options.js';

const demoOptionsSchema = z.object({
  frames: z.coerce.number().int().min(10).max(10_000).default(180),
  png: z.string().min(1).default('grantway-demo.png'),
  json: z.boolean().default(false),
  'log-level': z.enum(logLevels).default('warn'),
  policy: z.string().optional(),
  'policy-opt': z.array(z.string()).optional(),
});

function progressBar(done: number, total: number, what: string): void {
  const width = 30;
  const filled = Math.round((done / total) * width);
  const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
  process.stderr.write(`\r  ${bar} ${String(done).padStart(4)}/${total}  ${what.padEnd(20)}`);
  if (done === total) process.stderr.write('\n');
}

export async function demoCommand(flags: Record<string, unknown>): Promise<number> {
  const options = validateOptions(demoOptionsSchema, flags);
  const log = createLogger(options['log-level']);
  // Checked before anything starts: a bad --policy is one line and exit code 2.
  policyFromFlags({ mode: 'grant', backend: 'memfd', ...options });
  const tty = process.stderr.isTTY === true && !options.json;
  if (!options.json) {
    process.stderr.write(
      'grantway demo: embedded compositor + bridge in grant mode + scripted clients\n',
    );
  }
  const result = await runDemo({
    pngPath: resolve(options.png),
    frames: options.frames,
    log,
    policy: options.policy,
    policyOptions: options['policy-opt'],
    onProgress: tty ? progressBar : undefined,
  });
  if (options.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(formatDemo(result));
  return result.unsafeReclaims === 0 && result.leakedGrants === 0 ? 0 : 1;
}

export function formatDemo(r: DemoResult): string {
  const t = r.trace;
  const ms = (x: number): string => `${x.toFixed(2)} ms`;
  const rows: [string, string][] = [
    ['clients', `${t.clients} (one SIGKILLed mid-frame)`],
    ['frames composited', String(r.compositorFrames)],
    ['pools / buffers', `${t.pools} / ${t.buffers} (${(t.poolBytes / 1048576).toFixed(2)} MiB)`],
    [
      'commits copied',
      `${r.copies.commits} (${r.copies.fullCopies} full, ${(r.copies.bytes / 1048576).toFixed(2)} MiB)`,
    ],
    ['reclaim policy', r.reclaim.policy ?? 'none'],
    ['grants allocated', String(r.grantsAllocated)],
    ['grants reclaimed', String(r.grantsReclaimed)],
    ['end-of-access attempts', `${r.reclaim.attempts} (${r.reclaim.failed} refused: still mapped)`],
    ['deferred peak', `${r.reclaim.deferredPeak} refs (pages retired, not yet freed)`],
    [
      'evidence reached',
      `E0 ${t.evidenceReached.E0}, E1 ${t.evidenceReached.E1}, E2 ${t.evidenceReached.E2}, E3 ${t.evidenceReached.E3}`,
    ],
    [
      'let go → E3 (unmapped)',
      t.destroyToE3Ms.count === 0
        ? 'none'
        : `p50 ${ms(t.destroyToE3Ms.p50)}, p99 ${ms(t.destroyToE3Ms.p99)}, max ${ms(t.destroyToE3Ms.max)}`,
    ],
    [
      'unsafe reclaims',
      `${r.unsafeReclaims}${r.unsafeReclaims === 0 ? '' : '  ← a grant was freed while mapped'}`,
    ],
    ['leaked grants', `${r.leakedGrants}${r.leakedGrants === 0 ? '' : '  ← left allocated'}`],
    ['last frame', r.pngPath],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const line = `+${'-'.repeat(width + 2)}+${'-'.repeat(60)}+`;
  return `${[line, ...rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v.padEnd(58)} |`), line].join('\n')}\n`;
}
