// `npm run bench:copy`: what grant mode's per-commit copy costs at 1920×1080 ARGB8888,
// through the real GrantBacking path (spans from damage, copy into a memfd extent),
// next to one libc memcpy of the same full frame in the same run — the limit. Cases:
// full damage; 10 % damage as a full-width band (a scrolling terminal) and as a
// centred rectangle (a widget); and the pread path a pool not sealed against
// shrinking takes. Medians of several runs.

import { parseArgs } from 'node:util';
import {
  F_SEAL_SHRINK,
  PROT_READ,
  addSeals,
  close as closeFd,
  fstat,
  ftruncate,
  memcpy,
  memfdCreate,
  mmap,
  munmap,
  nativeView,
  PROT_WRITE,
} from '../ffi/libc.js';
import { MemfdGrantBackend } from '../bridge/grants/memfd.js';
import { LiveReclaimer, createPolicy } from '../policies/index.js';
import { bufferPages, PageCoverage } from '../bridge/shm/coverage.js';
import { GrantBacking } from '../bridge/shm/grant-mode.js';
import { ownFdOf } from '../bridge/shm/pool-fd.js';
import type { BufferState, PoolState, Rect } from '../bridge/shm/state.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    frames: { type: 'string', default: '200' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const FRAMES = Number(values.frames);
const W = 1920;
const H = 1080;
const STRIDE = W * 4;
const SIZE = STRIDE * H;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** A client pool as the tracker would describe it, backed by a real memfd. */
function clientPool(sealed: boolean): { pool: PoolState; buffer: BufferState; fd: number } {
  const fd = memfdCreate('bench-client');
  ftruncate(fd, SIZE);
  if (sealed) addSeals(fd, F_SEAL_SHRINK);
  const fill = mmap(fd, SIZE, PROT_READ | PROT_WRITE);
  const view = nativeView(fill, SIZE);
  for (let i = 0; i < SIZE; i += 4096) view[i] = i & 0xff;
  munmap(fill, SIZE);
  const st = fstat(fd);
  // As the tracker opens it: the bridge's own description, so copies look for holes.
  const own = ownFdOf(fd);
  const pool: PoolState = {
    id: 1,
    key: 1,
    size: SIZE,
    file: { dev: st.dev, ino: st.ino },
    mappedFile: undefined,
    clientFd: own.fd,
    ownDescription: own.ownDescription,
    sealedAgainstShrink: sealed,
    buffers: new Set(),
    coverage: new PageCoverage(),
    destroyed: false,
    letGo: false,
    acked: false,
    oracle: undefined,
    evidence: 'E1',
  };
  const buffer: BufferState = {
    id: 2,
    pool,
    offset: 0,
    width: W,
    height: H,
    stride: STRIDE,
    format: 0,
    busy: false,
    destroyed: false,
    acked: false,
    readable: false,
    pages: bufferPages(0, STRIDE, H),
    covering: true,
  };
  pool.buffers.add(buffer);
  return { pool, buffer, fd };
}

/** ms per commit through GrantBacking.committed with `damage` (after the first, full one). */
function measureCommits(sealed: boolean, damage: Rect[] | null): number {
  const backend = new MemfdGrantBackend();
  // No copy threads: every copy runs inline, so committed() returns nothing to wait for.
  const reclaimer = new LiveReclaimer({ backend, policy: createPolicy('evidence') });
  const backing = new GrantBacking(backend, reclaimer);
  const { pool, buffer, fd } = clientPool(sealed);
  try {
    const { fd: upstreamFd } = backing.created(pool, { what: 'bench', objectId: 1 });
    closeFd(upstreamFd);
    backing.covered(pool, buffer.pages);
    void backing.committed(7, buffer, null); // first commit: full copy, pages faulted in
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < FRAMES; i++) void backing.committed(7, buffer, damage);
    return Number(process.hrtime.bigint() - t0) / 1e6 / FRAMES;
  } finally {
    backing.close();
    backend.close();
    closeFd(pool.clientFd);
    closeFd(fd);
  }
}

/** ms per full-frame libc memcpy between the same kinds of mappings. */
function measureMemcpy(): number {
  const src = memfdCreate('bench-src');
  const dst = memfdCreate('bench-dst');
  ftruncate(src, SIZE);
  ftruncate(dst, SIZE);
  const s = mmap(src, SIZE, PROT_READ);
  const d = mmap(dst, SIZE, PROT_READ | PROT_WRITE);
  try {
    memcpy(d, s, SIZE); // fault the pages in
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < FRAMES; i++) memcpy(d, s, SIZE);
    return Number(process.hrtime.bigint() - t0) / 1e6 / FRAMES;
  } finally {
    munmap(s, SIZE);
    munmap(d, SIZE);
    closeFd(src);
    closeFd(dst);
  }
}

const band: Rect[] = [[0, 486, W, 108]]; // 10 % of the rows, full width
const rect: Rect[] = [[656, 369, 608, 342]]; // ~10 % of the area, centred

const cases = {
  memcpy: [] as number[],
  full: [] as number[],
  band10: [] as number[],
  rect10: [] as number[],
  preadFull: [] as number[],
};
for (let run = 0; run < RUNS; run++) {
  cases.memcpy.push(measureMemcpy());
  cases.full.push(measureCommits(true, null));
  cases.band10.push(measureCommits(true, band));
  cases.rect10.push(measureCommits(true, rect));
  cases.preadFull.push(measureCommits(false, null));
}
const m = Object.fromEntries(Object.entries(cases).map(([k, v]) => [k, median(v)])) as Record<
  keyof typeof cases,
  number
>;
const summary = {
  frame: `${W}x${H} ARGB8888 (${(SIZE / 1048576).toFixed(1)} MiB)`,
  runs: RUNS,
  framesPerRun: FRAMES,
  medianMs: m,
  fullOverMemcpy: m.full / m.memcpy,
  band10OverFull: m.band10 / m.full,
  rect10OverFull: m.rect10 / m.full,
};
if (values.json) {
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
} else {
  const row = (name: string, ms: number, ratio: string, target: string): string =>
    `| ${name.padEnd(38)} | ${ms.toFixed(3).padStart(8)} ms | ${ratio.padStart(14)} | ${target.padEnd(16)} |\n`;
  process.stdout.write(
    `\ngrant-mode copy per commit, ${summary.frame}, medians of ${RUNS} runs × ${FRAMES} commits\n\n` +
      `| ${'case'.padEnd(38)} | ${'per frame'.padStart(11)} | ${'ratio'.padStart(14)} | ${'target'.padEnd(16)} |\n` +
      `|${'-'.repeat(40)}|${'-'.repeat(13)}|${'-'.repeat(16)}|${'-'.repeat(18)}|\n` +
      row('libc memcpy of the frame (the limit)', m.memcpy, '1.00× memcpy', '') +
      row(
        'full damage (sealed pool, mapped)',
        m.full,
        `${summary.fullOverMemcpy.toFixed(2)}× memcpy`,
        '≤ 1.1× memcpy',
      ) +
      row(
        '10 % damage, full-width band',
        m.band10,
        `${summary.band10OverFull.toFixed(3)}× full`,
        '≤ 0.15× full',
      ) +
      row(
        '10 % damage, centred rectangle',
        m.rect10,
        `${summary.rect10OverFull.toFixed(3)}× full`,
        '≤ 0.15× full',
      ) +
      row(
        'full damage (unsealed pool, pread)',
        m.preadFull,
        `${(m.preadFull / m.memcpy).toFixed(2)}× memcpy`,
        '',
      ),
  );
}
