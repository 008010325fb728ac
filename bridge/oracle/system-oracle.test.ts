// The bridge's oracle on real processes: the kernel's answer for memfd extents (leases)
// and the /proc walk for other files, each against every way a process can hold a file
// — a mapping whose fd was closed, an fd alone, an fd in flight in a socket, a helper
// that double-forked into another session — plus the turn's answers and the CPU floor.

import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  close,
  fstat,
  ftruncate,
  memfdCreate,
  mmap,
  munmap,
  PROT_READ,
  socketPair,
} from '../../ffi/libc.js';
import { UnixChannel } from '../../ffi/unix-channel.js';
import { holder, killHolders } from '../../test/support/holders.js';
import { MemfdGrantBackend } from '../grants/memfd.js';
import type { GrantExtent } from '../grants/types.js';
import { unreadableProcesses } from './holders.js';
import { SystemOracle } from './system-oracle.js';
import type { FileIdentity, MappingQuestion, MappingVerdict } from './types.js';

const vouched = unreadableProcesses();
const nextTurn = (): Promise<void> => new Promise((r) => setTimeout(r, 0));
/** A look now (verdict() may reuse a walk's 'mapped' until the CPU floor allows a walk). */
const look = (oracle: SystemOracle, q: MappingQuestion): MappingVerdict => oracle.verdicts([q])[0]!;

afterEach(killHolders);

function plainMemfd(): { fd: number; file: FileIdentity } {
  const fd = memfdCreate('gw-oracle-test');
  ftruncate(fd, 4096);
  const { dev, ino } = fstat(fd);
  return { fd, file: { dev, ino } };
}

describe('the kernel answers for memfd extents (leases)', () => {
  let backend: MemfdGrantBackend;
  let extent: GrantExtent;
  afterEach(() => backend.close());
  const setup = (): SystemOracle => {
    backend = new MemfdGrantBackend();
    extent = backend.allocate(1);
    return new SystemOracle();
  };
  const ask = async (oracle: SystemOracle): Promise<MappingVerdict> => {
    await nextTurn(); // answers are kept for one turn
    return oracle.verdict({ file: extent.file! });
  };

  it('unmapped while only the bridge holds it (its mapping, its fd and dups of it)', async () => {
    const oracle = setup();
    expect(extent.file!.ownFd).toBe(extent.fd);
    expect(await ask(oracle)).toBe('unmapped');
    const ptr = mmap(extent.fd!, 4096, PROT_READ);
    expect(await ask(oracle)).toBe('unmapped');
    munmap(ptr, 4096);
    expect(oracle.stats.leaseAnswers).toBe(2);
    expect(oracle.scanner.stats.walks).toBe(0);
  });

  it('mapped while a shared fd exists, even in this process, until it is closed', async () => {
    const oracle = setup();
    const shared = backend.shareFd(extent);
    expect(await ask(oracle)).toBe('mapped');
    close(shared);
    expect(await ask(oracle)).toBe('unmapped');
  });

  it('mapped while another process maps it with its fd closed; unmapped once it unmaps', async () => {
    const oracle = setup();
    const shared = backend.shareFd(extent);
    const h = await holder('map', shared);
    close(shared);
    expect(await ask(oracle)).toBe('mapped');
    await h.tell('unmap');
    expect(await ask(oracle)).toBe('unmapped');
  });

  it('mapped while another process only holds an fd (it could map it again)', async () => {
    const oracle = setup();
    const shared = backend.shareFd(extent);
    const h = await holder('hold', shared);
    close(shared);
    expect(await ask(oracle)).toBe('mapped');
    await h.tell('close');
    expect(await ask(oracle)).toBe('unmapped');
  });

  it('mapped while the fd is in flight in a socket, in no process', async () => {
    const oracle = setup();
    const [a, b] = socketPair();
    const sender = new UnixChannel(a);
    const receiver = new UnixChannel(b);
    try {
      const shared = backend.shareFd(extent);
      sender.tx.set([1], 0);
      expect(sender.send(0, 1, [shared])).toBe(1);
      close(shared);
      expect(await ask(oracle)).toBe('mapped');
      const fds: number[] = [];
      receiver.recv(0, 16, fds);
      for (const fd of fds) close(fd);
      expect(await ask(oracle)).toBe('unmapped');
    } finally {
      sender.close();
      receiver.close();
    }
  });

  it('mapped while a helper that double-forked into another session maps it', async () => {
    const oracle = setup();
    const shared = backend.shareFd(extent);
    const h = await holder('detach', shared);
    close(shared);
    expect(h.pid).not.toBe(h.child.pid);
    expect(await ask(oracle)).toBe('mapped');
    process.kill(h.pid, 'SIGKILL');
    let verdict: MappingVerdict = 'mapped';
    for (let i = 0; i < 200 && verdict === 'mapped'; i++) {
      await new Promise((r) => setTimeout(r, 10));
      verdict = await ask(oracle);
    }
    expect(verdict).toBe('unmapped');
  });

  it('keeps working where /proc is of no use', async () => {
    backend = new MemfdGrantBackend();
    extent = backend.allocate(1);
    const warnings: { reason: string; msg: string }[] = [];
    const log = pino(
      { level: 'warn' },
      { write: (line: string) => warnings.push(JSON.parse(line) as (typeof warnings)[number]) },
    );
    const oracle = new SystemOracle({ procRoot: '/nonexistent', log });
    expect(oracle.scanner.environment?.kind).toBe('foreign-proc');
    // The operator learns why, once.
    expect(warnings.map((w) => w.reason)).toEqual(['foreign-proc']);
    const shared = backend.shareFd(extent);
    expect(await ask(oracle)).toBe('mapped');
    close(shared);
    expect(await ask(oracle)).toBe('unmapped');
    // A file without the bridge's own fd can only be walked for: unavailable here.
    const other = plainMemfd();
    try {
      expect(oracle.verdict({ file: other.file })).toBe('unavailable');
      expect(oracle.blindnessFor(other.file)?.kind).toBe('foreign-proc');
      expect(warnings).toHaveLength(1);
    } finally {
      close(other.fd);
    }
  });

  it('falls back to the walk, and says so once, when the kernel will not answer', async () => {
    const warnings: string[] = [];
    const log = pino(
      { level: 'warn' },
      { write: (line: string) => warnings.push((JSON.parse(line) as { msg: string }).msg) },
    );
    const oracle = new SystemOracle({ log, vouchedPids: vouched });
    const m = plainMemfd();
    try {
      // An fd that is not the file's (closed, number reused): no lease can vouch for it.
      const file = { ...m.file, ownFd: 1_000_000 };
      expect(oracle.verdict({ file })).toBe('unmapped');
      await nextTurn();
      expect(oracle.verdict({ file })).toBe('unmapped');
      expect(oracle.scanner.stats.walks).toBe(2);
      expect(warnings.filter((w) => w.includes('lease'))).toHaveLength(1);
    } finally {
      close(m.fd);
    }
  });
});

describe('the /proc walk, for files the kernel cannot be asked about', () => {
  const walker = (): SystemOracle => new SystemOracle({ useLeases: false, vouchedPids: vouched });
  let m: { fd: number; file: FileIdentity };
  afterEach(() => close(m.fd));

  it('finds a process that maps the file with its fd closed, and its exit', async () => {
    m = plainMemfd();
    const oracle = walker();
    const h = await holder('map', m.fd);
    expect(look(oracle, { file: m.file })).toBe('mapped');
    const exited = new Promise((r) => h.child.once('exit', r));
    h.child.kill('SIGKILL');
    await exited;
    await nextTurn();
    expect(look(oracle, { file: m.file })).toBe('unmapped');
  });

  it('finds a process that only holds an fd', async () => {
    m = plainMemfd();
    const oracle = walker();
    const h = await holder('hold', m.fd);
    expect(look(oracle, { file: m.file })).toBe('mapped');
    await h.tell('close');
    await nextTurn();
    expect(look(oracle, { file: m.file })).toBe('unmapped');
  });

  it('finds a helper that double-forked into another session', async () => {
    m = plainMemfd();
    const oracle = walker();
    const h = await holder('detach', m.fd);
    expect(look(oracle, { file: m.file, peerPid: h.child.pid })).toBe('mapped');
  });

  it('never counts the bridge, nor the owner of a passthrough pool', async () => {
    m = plainMemfd();
    const oracle = walker();
    const ptr = mmap(m.fd, 4096, PROT_READ); // the bridge's own mapping
    try {
      expect(look(oracle, { file: m.file })).toBe('unmapped');
      const h = await holder('map', m.fd);
      await nextTurn();
      expect(look(oracle, { file: m.file, ownerPid: h.pid })).toBe('unmapped');
      await nextTurn();
      expect(look(oracle, { file: m.file })).toBe('mapped');
    } finally {
      munmap(ptr, 4096);
    }
  });

  it('counts a file whose fd may be in flight as held, without walking', () => {
    m = plainMemfd();
    const oracle = walker();
    expect(look(oracle, { file: m.file, delivered: false })).toBe('mapped');
    expect(oracle.scanner.stats.walks).toBe(0);
  });

  it('the common "still mapped" look reads about one maps file', async () => {
    m = plainMemfd();
    const oracle = walker();
    await holder('map', m.fd);
    expect(oracle.verdicts([{ file: m.file }])).toEqual(['mapped']); // finds the holder
    const before = oracle.scanner.stats.mapsRead;
    await nextTurn();
    expect(oracle.verdicts([{ file: m.file }])).toEqual(['mapped']);
    expect(oracle.scanner.stats.mapsRead - before).toBe(1); // the holder, read first
    expect(oracle.scanner.stats.shortCircuits).toBe(1);
  });

  it('cannot see through a peer in a pid namespace it cannot see (SO_PEERCRED gave 0)', async () => {
    m = plainMemfd();
    const oracle = walker();
    expect(look(oracle, { file: m.file, peerPid: 0 })).toBe('unavailable');
    expect(oracle.blindnessFor(m.file)?.kind).toBe('peer-invisible');
    // …but a file it finds mapped is still mapped.
    await holder('map', m.fd);
    await nextTurn();
    expect(look(oracle, { file: m.file, peerPid: 0 })).toBe('mapped');
    expect(oracle.blindnessFor(m.file)).toBeUndefined();
  });
});

describe('one look per turn, within a CPU budget', () => {
  it('answers again from the turn, and looks again in the next', async () => {
    const m = plainMemfd();
    try {
      const oracle = new SystemOracle({ useLeases: false, vouchedPids: vouched });
      const q = { file: m.file };
      oracle.verdicts([q]);
      oracle.verdict(q);
      oracle.verdicts([q, q]);
      expect(oracle.stats.looks).toBe(1);
      await nextTurn();
      oracle.verdict(q);
      expect(oracle.stats.looks).toBe(2);
    } finally {
      close(m.fd);
    }
  });

  it('a single question within the floor reuses the walk’s "mapped" instead of walking', async () => {
    const m = plainMemfd();
    try {
      let t = 100;
      let step = 10; // each reading of the clock: the walk "takes" 10 ms
      const oracle = new SystemOracle({
        useLeases: false,
        vouchedPids: vouched,
        now: () => (t += step),
      });
      await holder('map', m.fd);
      expect(look(oracle, { file: m.file })).toBe('mapped');
      expect(oracle.notBefore()).toBeGreaterThan(t + 100); // 10 ms of work, 190 of rest
      step = 0;
      await nextTurn();
      expect(oracle.verdict({ file: m.file })).toBe('mapped');
      expect(oracle.stats.looks).toBe(1);
      t = oracle.notBefore(); // past the floor: it looks again
      await nextTurn();
      expect(oracle.verdict({ file: m.file })).toBe('mapped');
      expect(oracle.stats.looks).toBe(2);
    } finally {
      close(m.fd);
    }
  });

  it('puts the next look cost × (1 − budget) / budget after the last', () => {
    const m = plainMemfd();
    try {
      let now = 1000;
      const oracle = new SystemOracle({
        useLeases: false,
        vouchedPids: vouched,
        cpuBudget: 0.05,
        now: () => (now += 1), // every reading of the clock: +1 ms
      });
      oracle.verdicts([{ file: m.file }]);
      // start at 1001, end at 1002: 1 ms of work → 19 ms of rest.
      expect(oracle.stats.lastLookMs).toBe(1);
      expect(oracle.notBefore()).toBeCloseTo(1002 + 19, 6);
      expect(() => new SystemOracle({ cpuBudget: 0 })).toThrow(RangeError);
    } finally {
      close(m.fd);
    }
  });
});
