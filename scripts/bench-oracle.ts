// `npm run bench:oracle`: what one E3 look costs per tick, for 500 waiting extents, with
// a compositor-side process tree of 100 processes (a fake supervisor that forked 99
// helpers and a "compositor" that maps every extent: scripts/bench/oracle-tree.py), on
// top of whatever else runs on the machine. Every process's maps and fds count, so the
// walk's cost grows with the whole machine; the kernel's answer (leases) does not.
//
// Cases, each the median of several ticks:
//   - all 500 still mapped (the common case while a compositor holds buffers): the
//     kernel; the walk with the compositor read first (it mapped a file last time); the
//     walk cold (a fresh oracle, processes in /proc order);
//   - 1 of 500 unmapped (the walk must then read every process's fds and maps);
//   - all 500 unmapped;
// next to the single-pid oracle this replaces (one read of the compositor's maps), and
// the floor each cost puts under the poll interval at the default CPU budget.

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { close as closeFd, socketPair } from '../ffi/libc.js';
import { UnixChannel, MAX_FDS_PER_SENDMSG } from '../ffi/unix-channel.js';
import { MemfdGrantBackend } from '../bridge/grants/memfd.js';
import type { GrantExtent } from '../bridge/grants/types.js';
import { unreadableProcesses } from '../bridge/oracle/holders.js';
import { parseMappedFiles } from '../bridge/oracle/maps.js';
import { readProcText } from '../bridge/oracle/proc-read.js';
import { DEFAULT_CPU_BUDGET, SystemOracle } from '../bridge/oracle/system-oracle.js';
import type { MappingQuestion, MappingVerdict } from '../bridge/oracle/types.js';

const { values } = parseArgs({
  options: {
    processes: { type: 'string', default: '100' },
    extents: { type: 'string', default: '500' },
    maps: { type: 'string', default: '150' },
    fds: { type: 'string', default: '40' },
    ticks: { type: 'string', default: '15' },
    json: { type: 'boolean', default: false },
  },
});
const PROCESSES = Number(values.processes);
const EXTENTS = Number(values.extents);
const TICKS = Number(values.ticks);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const nextTurn = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** The fake tree, and a line-at-a-time conversation with its compositor. */
async function startTree(): Promise<{
  tree: ChildProcess;
  compositor: number;
  channel: UnixChannel;
  ask(command: string): Promise<string>;
}> {
  // Beside this file when run from source; from dist/scripts, back in the source tree.
  const near = fileURLToPath(new URL('./bench/oracle-tree.py', import.meta.url));
  const script = existsSync(near)
    ? near
    : fileURLToPath(new URL('../../scripts/bench/oracle-tree.py', import.meta.url));
  const [mine, theirs] = socketPair();
  const tree = spawn(
    'python3',
    [script, String(PROCESSES), String(values.maps), String(values.fds)],
    { stdio: ['pipe', 'pipe', 'inherit', theirs], detached: true },
  );
  closeFd(theirs);
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  let buffered = '';
  tree.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    lines.push(...parts);
    wake?.();
  });
  const line = async (): Promise<string> => {
    while (lines.length === 0) await new Promise<void>((r) => (wake = r));
    return lines.shift()!;
  };
  const ready = (await line()).split(' ');
  return {
    tree,
    compositor: Number(ready[1]),
    channel: new UnixChannel(mine),
    async ask(command) {
      tree.stdin!.write(`${command}\n`);
      return line();
    },
  };
}

/** Gives every extent to the compositor (fresh open file descriptions, as grant mode does). */
async function share(
  backend: MemfdGrantBackend,
  extents: readonly GrantExtent[],
  t: Awaited<ReturnType<typeof startTree>>,
): Promise<void> {
  const answer = t.ask(`receive ${extents.length}`);
  for (let i = 0; i < extents.length; i += MAX_FDS_PER_SENDMSG) {
    const fds = extents.slice(i, i + MAX_FDS_PER_SENDMSG).map((e) => backend.shareFd(e));
    t.channel.tx.set([1], 0);
    while (t.channel.send(0, 1, fds) === 'again') await new Promise((r) => setTimeout(r, 1));
    for (const fd of fds) closeFd(fd);
  }
  await answer;
}

interface Row {
  readonly case: string;
  readonly ms: number;
  readonly verdicts: string;
  /** Processes read (maps files) per look, for the walks. */
  readonly mapsPerLook?: number;
}

/** Median cost of one look at every question, with a fresh turn before each. */
async function time(
  oracle: () => SystemOracle,
  questions: readonly MappingQuestion[],
  ticks: number,
): Promise<{ ms: number; verdicts: string; mapsPerLook: number }> {
  const samples: number[] = [];
  let last: MappingVerdict[] = [];
  let maps = 0;
  for (let i = 0; i < ticks; i++) {
    const o = oracle();
    await nextTurn();
    const before = o.scanner.stats.mapsRead;
    const start = performance.now();
    last = o.verdicts(questions);
    samples.push(performance.now() - start);
    maps += o.scanner.stats.mapsRead - before;
  }
  const counts = new Map<string, number>();
  for (const v of last) counts.set(v, (counts.get(v) ?? 0) + 1);
  return {
    ms: median(samples),
    verdicts: [...counts].map(([v, n]) => `${n} ${v}`).join(', '),
    mapsPerLook: maps / ticks,
  };
}

async function main(): Promise<void> {
  const machine = readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n)).length;
  const t = await startTree();
  const backend = new MemfdGrantBackend();
  const vouched = unreadableProcesses(); // the machine's own opaque agents, if any
  try {
    const extents = Array.from({ length: EXTENTS }, () => backend.allocate(1));
    await share(backend, extents, t);
    const questions = extents.map((e) => ({ file: e.file!, peerPid: t.tree.pid }));
    const kernel = new SystemOracle({ vouchedPids: vouched });
    const hot = new SystemOracle({ useLeases: false, vouchedPids: vouched });
    const cold = (): SystemOracle => new SystemOracle({ useLeases: false, vouchedPids: vouched });
    const rows: Row[] = [];
    const row = (name: string, r: Awaited<ReturnType<typeof time>>, walk: boolean): void => {
      rows.push({
        case: name,
        ms: r.ms,
        verdicts: r.verdicts,
        ...(walk ? { mapsPerLook: r.mapsPerLook } : {}),
      });
    };

    // The single-pid oracle this replaces: one read and parse of the compositor's maps.
    const baseline: number[] = [];
    for (let i = 0; i < TICKS * 4; i++) {
      const start = performance.now();
      const text = readProcText(`/proc/${t.compositor}/maps`);
      if ('ok' in text) parseMappedFiles(text.ok);
      baseline.push(performance.now() - start);
    }
    const base = median(baseline);

    hot.verdicts(questions); // learns who maps them
    row('all mapped: kernel (leases)', await time(() => kernel, questions, TICKS * 4), false);
    row('all mapped: walk, holder first', await time(() => hot, questions, TICKS), true);
    row('all mapped: walk, cold (/proc order)', await time(cold, questions, TICKS), true);
    await t.ask('unmap 1');
    row('1 unmapped: kernel (leases)', await time(() => kernel, questions, TICKS * 4), false);
    row('1 unmapped: walk', await time(() => hot, questions, TICKS), true);
    await t.ask(`unmap ${EXTENTS - 1}`);
    row('all unmapped: kernel (leases)', await time(() => kernel, questions, TICKS * 4), false);
    row('all unmapped: walk', await time(() => hot, questions, TICKS), true);

    const floor = (ms: number): number => (ms * (1 - DEFAULT_CPU_BUDGET)) / DEFAULT_CPU_BUDGET;
    const processes = readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n)).length;
    if (values.json) {
      console.log(
        JSON.stringify({
          processes,
          machineBefore: machine,
          extents: EXTENTS,
          baselineMs: base,
          rows,
        }),
      );
      return;
    }
    console.log(
      `E3 look per tick: ${EXTENTS} waiting extents, a compositor tree of ${PROCESSES} processes ` +
        `(${values.maps} file mappings + ${values.fds} fds each, plus the ${EXTENTS} extents in the compositor), ` +
        `${processes} processes on the machine; medians`,
    );
    console.log(
      '| case | per tick | vs one maps read | maps read | verdicts | poll floor at 5 % CPU |',
    );
    console.log('| --- | --- | --- | --- | --- | --- |');
    console.log(
      `| single-pid oracle (one maps read, the old way) | ${base.toFixed(2)} ms | 1.0× | 1 | — | ${floor(base).toFixed(0)} ms |`,
    );
    for (const r of rows) {
      console.log(
        `| ${r.case} | ${r.ms.toFixed(2)} ms | ${(r.ms / base).toFixed(1)}× | ${r.mapsPerLook?.toFixed(0) ?? '0'} | ${r.verdicts} | ${floor(r.ms).toFixed(0)} ms |`,
      );
    }
  } finally {
    t.channel.close();
    backend.close();
    try {
      process.kill(-t.tree.pid!, 'SIGTERM');
    } catch {
      // gone
    }
  }
}

await main();
