// The bench's rows as a plain-text table for the terminal (and the README): one line
// per trace × remote model × policy, the columns ARCHITECTURE.md §5 asks for. Pure.

import type { BenchRow } from './bench.js';

export const TABLE_COLUMNS = [
  'trace',
  'remote',
  'policy',
  'peak grants',
  'max deferred',
  'failed end',
  'p50 ms',
  'p99 ms',
  'max ms',
  'leaked',
  'unsafe',
  'µs/event',
  'alloc fail',
  'drain s',
] as const;

/** ms with precision that fits the magnitude. */
export function formatMs(ms: number): string {
  if (ms < 10) return ms.toFixed(2);
  if (ms < 1000) return ms.toFixed(1);
  return Math.round(ms).toString();
}

export function tableCells(row: BenchRow): string[] {
  const l = row.reclaimLatencyMs;
  const lat = (x: number): string => (l.count === 0 ? '–' : formatMs(x));
  return [
    row.trace,
    row.remote,
    row.label,
    String(row.peakGrants),
    String(row.maxDeferred),
    String(row.failedEndAccess),
    lat(l.p50),
    lat(l.p99),
    lat(l.max),
    row.leakedMapped > 0 ? `${row.leaked} (${row.leakedMapped} mapped)` : String(row.leaked),
    String(row.unsafe),
    row.cpuUsPerEvent.toFixed(2),
    String(row.allocationFailures),
    (row.drainMs / 1000).toFixed(1),
  ];
}

/**
 * Aligned columns (text left, numbers right); the trace and remote are written only
 * when they change, so each block reads as one comparison.
 */
export function formatTable(rows: readonly BenchRow[]): string {
  const raw = rows.map(tableCells);
  const body = raw.map((cells, i) => {
    const before = raw[i - 1];
    const sameTrace = before !== undefined && before[0] === cells[0];
    const sameRemote = sameTrace && before[1] === cells[1];
    return [sameTrace ? '' : cells[0]!, sameRemote ? '' : cells[1]!, ...cells.slice(2)];
  });
  const header = [...TABLE_COLUMNS];
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((c) => c[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w)))];
  let previousTrace = '';
  for (const cells of body) {
    if (cells[0] !== '' && previousTrace !== '') out.push('');
    if (cells[0] !== '') previousTrace = cells[0]!;
    out.push(line(cells));
  }
  return out.join('\n');
}

/** The same rows as a Markdown table (for the README). */
export function formatMarkdown(rows: readonly BenchRow[]): string {
  const out = [
    `| ${TABLE_COLUMNS.join(' | ')} |`,
    `|${TABLE_COLUMNS.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`,
  ];
  for (const row of rows) out.push(`| ${tableCells(row).join(' | ')} |`);
  return out.join('\n');
}
