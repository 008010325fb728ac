// The plain holder walk that judges the oracle: it finds a process by its mapping or by
// its fd alone, and never counts the process that asks.

import { afterEach, describe, expect, it } from 'vitest';
import { close, fstat, ftruncate, memfdCreate, mmap, munmap, PROT_READ } from '../../ffi/libc.js';
import { holder, killHolders } from '../../test/support/holders.js';
import { holdersOf } from './holders.js';

afterEach(killHolders);

describe('holdersOf', () => {
  it('names who maps a file and who only holds an fd to it, never the asker', async () => {
    const fd = memfdCreate('gw-holders-test');
    try {
      ftruncate(fd, 4096);
      const { dev, ino } = fstat(fd);
      const own = mmap(fd, 4096, PROT_READ);
      expect(holdersOf({ dev, ino }).holders).toEqual([]);
      const mapper = await holder('map', fd);
      const keeper = await holder('hold', fd);
      const found = holdersOf({ dev, ino }).holders.map(({ pid, how }) => ({ pid, how }));
      expect(found).toEqual(
        expect.arrayContaining([
          { pid: mapper.pid, how: 'maps' },
          { pid: keeper.pid, how: 'fd' },
        ]),
      );
      expect(found).toHaveLength(2);
      // Counting the asker too when it is not excluded:
      expect(holdersOf({ dev, ino }, []).holders.map((h) => h.pid)).toContain(process.pid);
      munmap(own, 4096);
    } finally {
      close(fd);
    }
  });
});
