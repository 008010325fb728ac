// `grantway report FILE`: a recorded lifecycle trace, summarised for a human (or as
// JSON with --json).

import { formatSummary, summarizeTrace } from '../shm/report.js';
import { readLifecycleTrace } from '../shm/trace-file.js';
import { OptionError, reportOptionsSchema, validateOptions } from './options.js';

export function reportCommand(flags: Record<string, unknown>, files: string[]): number {
  const options = validateOptions(reportOptionsSchema, { json: flags.json });
  if (files.length !== 1)
    throw new OptionError('report: give exactly one trace file (grantway report FILE)');
  const summary = summarizeTrace(readLifecycleTrace(files[0]!));
  process.stdout.write(
    options.json ? `${JSON.stringify(summary, null, 2)}\n` : `${formatSummary(summary)}\n`,
  );
  return 0;
}
