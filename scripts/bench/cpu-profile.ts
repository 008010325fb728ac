// Reads a V8 .cpuprofile (written by `node --cpu-prof`) into a table of self time by
// function: where the process spent its time, not counting callees.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeRow {
  readonly name: string;
  readonly where: string;
  readonly ms: number;
  readonly share: number;
}

/** Self time per function (summed over the call tree), largest first. */
export function selfTimes(file: string): { rows: SelfTimeRow[]; totalMs: number } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const us = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    us.set(id, (us.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totals = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  for (const [id, t] of us) {
    const f = byId.get(id)!.callFrame;
    const where = f.url === '' ? '' : `${basename(f.url)}:${f.lineNumber + 1}`;
    const name = f.functionName === '' ? '(anonymous)' : f.functionName;
    const key = `${name}@${where}`;
    const row = totals.get(key) ?? { name, where, us: 0 };
    row.us += t;
    totals.set(key, row);
    total += t;
  }
  const rows = [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .map((r) => ({ name: r.name, where: r.where, ms: r.us / 1000, share: r.us / total }));
  return { rows, totalMs: total / 1000 };
}

/** The top `n` rows as a markdown table. */
export function selfTimeTable(file: string, n = 10): string {
  const { rows, totalMs } = selfTimes(file);
  const lines = ['| # | function | where | self ms | share |', '| --- | --- | --- | --- | --- |'];
  rows.slice(0, n).forEach((r, i) => {
    lines.push(
      `| ${i + 1} | ${r.name} | ${r.where} | ${r.ms.toFixed(1)} | ${(r.share * 100).toFixed(1)} % |`,
    );
  });
  lines.push(`\n(${totalMs.toFixed(0)} ms sampled in all)`);
  return lines.join('\n');
}
