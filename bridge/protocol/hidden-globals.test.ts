// A hidden global is said once per client and interface, at info, with the hint.

import { describe, expect, it } from 'vitest';
import { type HiddenGlobalLog, HiddenGlobalReporter } from './hidden-globals.js';

function recordingLog(): { log: HiddenGlobalLog; lines: [Record<string, unknown>, string][] } {
  const lines: [Record<string, unknown>, string][] = [];
  const info = (fields: unknown, message?: unknown): void => {
    lines.push([fields as Record<string, unknown>, String(message)]);
  };
  return { log: { info }, lines };
}

describe('HiddenGlobalReporter', () => {
  it('says each hidden interface once, with its name and the --protocol-dir hint', () => {
    const { log, lines } = recordingLog();
    const reporter = new HiddenGlobalReporter(log, 7);
    reporter.hidden('gw_private_v1', 12, 3);
    reporter.hidden('gw_private_v1', 13, 3); // advertised again (say, a second output)
    reporter.hidden('gw_other_v2', 14, 1);
    expect(lines).toEqual([
      [
        { session: 7, interface: 'gw_private_v1', name: 12, version: 3 },
        'global gw_private_v1 hidden from the client: no protocol table for it ' +
          '(load its XML with --protocol-dir DIR)',
      ],
      [
        { session: 7, interface: 'gw_other_v2', name: 14, version: 1 },
        'global gw_other_v2 hidden from the client: no protocol table for it ' +
          '(load its XML with --protocol-dir DIR)',
      ],
    ]);
  });

  it('says it again for another client', () => {
    const { log, lines } = recordingLog();
    new HiddenGlobalReporter(log, 1).hidden('gw_private_v1', 12, 3);
    new HiddenGlobalReporter(log, 2).hidden('gw_private_v1', 12, 3);
    expect(lines.map(([fields]) => fields.session)).toEqual([1, 2]);
  });
});
