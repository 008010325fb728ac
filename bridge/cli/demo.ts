// `grantway demo` (the README's first command, `npm run demo`): runs the demo with a
// progress bar on a terminal and prints its summary table.

import { resolve } from 'node:path';
import { z } from 'zod';
import { demoSummaryRows, runDemo, type DemoResult } from '../../harness/index.js';
import { createLogger } from '../log.js';
import { policyFromFlags } from './common.js';
import { logLevels, validateOptions } from './options.js';

const demoOptionsSchema = z.object({
  frames: z.coerce.number().int().min(10).max(10_000).default(180),
  png: z.string().min(1).default('grantway-demo.png'),
  /** Default: the PNG's path with .html in place of .png. */
  html: z.string().min(1).optional(),
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
    htmlPath: resolve(options.html ?? options.png.replace(/(\.png)?$/i, '.html')),
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
  const rows: [string, string][] = [
    ...demoSummaryRows(r),
    ['windows (PNG)', r.picture.pngPath],
    ...(r.picture.htmlPath === undefined
      ? []
      : ([['timeline (HTML)', r.picture.htmlPath]] as [string, string][])),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const line = `+${'-'.repeat(width + 2)}+${'-'.repeat(60)}+`;
  return `${[line, ...rows.map(([k, v]) => `| ${k.padEnd(width)} | ${v.padEnd(58)} |`), line].join('\n')}\n`;
}
