// Grant mode's copies, byte for byte (property test): a client draws random bytes into
// random damage rectangles of a buffer at a random offset, stride and pixel format, in
// a pool sealed against shrinking (copied through the joint mapping, by the native
// span-copy helper or a koffi call per row) or not (pread), with holes punched in it or
// not, and commits; after each commit the extent holds exactly the client's buffer
// bytes. Copies big enough run on real copy threads, split between them.

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  F_SEAL_SHRINK,
  PROT_READ,
  PROT_WRITE,
  addSeals,
  close as closeFd,
  fstat,
  ftruncate,
  memfdCreate,
  mmap,
  munmap,
  nativeView,
  punchHole,
} from '../ffi/libc.js';
import { forceRowByRow, spanCopyMode } from '../ffi/span-copy.js';
import { MemfdGrantBackend } from '../bridge/grants/memfd.js';
import { silentLogger } from '../bridge/log.js';
import { wayland } from '../bridge/protocol/enums.js';
import { CopyThreads } from '../bridge/shm/copy-threads.js';
import { bufferPages } from '../bridge/shm/coverage.js';
import { GrantBacking, INLINE_COPY_BYTES } from '../bridge/shm/grant-mode.js';
import { ownFdOf } from '../bridge/shm/pool-fd.js';
import { type Rect, bytesPerPixel, newBufferState, newPoolState } from '../bridge/shm/state.js';
import { LiveReclaimer, createPolicy } from '../policies/index.js';
import { commandAvailable } from '../harness/real/process.js';

const F = wayland.wl_shm.format;
/** 4, 3, 2 and 1 bytes a pixel, and one the bridge cannot reason about (copied whole). */
const FORMATS = [F.argb8888, F.xrgb8888, F.rgb888, F.rgb565, F.r8, F.nv12] as const;
const PAGE = 4096;

interface Case {
  sealed: boolean;
  rowByRow: boolean;
  threads: boolean;
  format: number;
  width: number;
  height: number;
  padding: number;
  offset: number;
  /** Pages of the pool punched out before the first commit. */
  holes: number[];
  /** Per commit after the first (full) one: damage rectangles as fractions of the buffer. */
  commits: [number, number, number, number][][];
  seed: number;
}

const fraction = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
const caseArb: fc.Arbitrary<Case> = fc.record({
  sealed: fc.boolean(),
  rowByRow: fc.boolean(),
  threads: fc.boolean(),
  format: fc.constantFrom(...FORMATS),
  width: fc.integer({ min: 1, max: 700 }),
  height: fc.integer({ min: 1, max: 300 }),
  padding: fc.integer({ min: 0, max: 70 }),
  offset: fc.integer({ min: 0, max: 3 * PAGE }),
  holes: fc.array(fc.nat(200), { maxLength: 6 }),
  commits: fc.array(fc.array(fc.tuple(fraction, fraction, fraction, fraction), { maxLength: 5 }), {
    minLength: 1,
    maxLength: 3,
  }),
  seed: fc.nat(),
});

/** A small deterministic byte generator: failures replay from fast-check's seed. */
function bytes(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x & 0xff;
  };
}

/** Where two byte arrays first differ; -1 when they are equal (a readable failure). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (Buffer.compare(a, b) === 0) return -1;
  return a.findIndex((x, i) => x !== b[i]);
}

const threads = new CopyThreads(2, silentLogger);
afterAll(() => {
  threads.close();
  forceRowByRow(false);
});

async function check(c: Case): Promise<void> {
  const bpp = bytesPerPixel(c.format) ?? 1;
  const stride = c.width * bpp + c.padding;
  const bufferBytes = stride * c.height;
  const size = c.offset + bufferBytes + 123; // a pool a little larger than its buffer
  const fd = memfdCreate('grant-copy-bytes');
  ftruncate(fd, size);
  if (c.sealed) addSeals(fd, F_SEAL_SHRINK);
  const ptr = mmap(fd, size, PROT_READ | PROT_WRITE);
  const pixels = nativeView(ptr, size);
  const next = bytes(c.seed);
  for (let i = 0; i < size; i++) pixels[i] = next();
  for (const page of c.holes) {
    if (page * PAGE < size) punchHole(fd, page * PAGE, PAGE);
  }
  const backend = new MemfdGrantBackend();
  const reclaimer = new LiveReclaimer({ backend, policy: createPolicy('evidence') });
  const backing = new GrantBacking(backend, reclaimer, c.threads ? { threads } : {});
  const st = fstat(fd);
  const own = ownFdOf(fd);
  const pool = newPoolState({
    id: 1,
    key: 1,
    size,
    file: { dev: st.dev, ino: st.ino },
    mappedFile: undefined,
    clientFd: own.fd,
    ownDescription: own.ownDescription,
    sealedAgainstShrink: c.sealed,
  });
  const buffer = newBufferState({
    id: 2,
    pool,
    offset: c.offset,
    width: c.width,
    height: c.height,
    stride,
    format: c.format,
    pages: bufferPages(c.offset, stride, c.height),
  });
  pool.buffers.add(buffer);
  forceRowByRow(c.rowByRow);
  try {
    const { fd: upstreamFd } = backing.created(pool, { what: 'test', objectId: 1 });
    closeFd(upstreamFd);
    backing.covered(pool, buffer.pages);
    const extent = (): Uint8Array =>
      backing.inspect(pool)!.view.subarray(c.offset, c.offset + bufferBytes);
    const client = (): Uint8Array => pixels.subarray(c.offset, c.offset + bufferBytes);
    await backing.committed(7, buffer, null);
    expect(firstDifference(extent(), client())).toBe(-1);
    for (const fractions of c.commits) {
      const damage: Rect[] = fractions.map(([fx, fy, fw, fh]) => {
        const x = Math.floor(fx * c.width);
        const y = Math.floor(fy * c.height);
        return [x, y, 1 + Math.floor(fw * (c.width - x)), 1 + Math.floor(fh * (c.height - y))];
      });
      // The client draws inside its damage only (the pixels, not the padding).
      for (const [x, y, w, h] of damage) {
        for (let row = y; row < y + h; row++) {
          const at = c.offset + row * stride + x * bpp;
          for (let i = 0; i < w * bpp; i++) pixels[at + i] = next();
        }
      }
      await backing.committed(7, buffer, damage);
      expect(firstDifference(extent(), client())).toBe(-1);
    }
  } finally {
    munmap(ptr, size);
    backing.close();
    backend.close();
    closeFd(own.fd);
    closeFd(fd);
  }
}

/**
 * `npm run build` builds the helper with the system C compiler where there is one; CI
 * requires it (GRANTWAY_NATIVE=required). Without a compiler copies run row by row and
 * this file's other tests check those instead.
 */
const helperExpected =
  process.env.GRANTWAY_NATIVE === 'required' || commandAvailable(process.env.CC ?? 'cc');
if (!helperExpected)
  console.warn('no C compiler (cc): the span-copy helper is not built, copies run row by row');

describe('grant-mode copies, byte for byte', () => {
  it.skipIf(!helperExpected)('the native span-copy helper is built (npm run build)', () => {
    expect(spanCopyMode()).toBe('native');
  });

  it('copies any damage of any buffer layout exactly, sealed or not, holes or not', async () => {
    await fc.assert(fc.asyncProperty(caseArb, check), { numRuns: 120 });
  });

  it('copies a frame big enough for the copy threads exactly, in shares', async () => {
    const width = 1024;
    const height = 600; // 2.3 MiB: split between the threads
    expect(width * 4 * height).toBeGreaterThan(4 * INLINE_COPY_BYTES);
    for (const sealed of [true, false]) {
      await check({
        sealed,
        rowByRow: false,
        threads: true,
        format: F.argb8888,
        width,
        height,
        padding: 8,
        offset: 100,
        holes: [3, 50, 51],
        commits: [
          [[0.1, 0.1, 0.3, 0.8]],
          [
            [0, 0, 0.99, 0.99],
            [0.5, 0.2, 0.1, 0.1],
          ],
        ],
        seed: 12345,
      });
    }
  });
});
