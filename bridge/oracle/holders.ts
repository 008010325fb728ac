// Who holds a file right now, by the plainest possible walk over /proc: every process's
// maps and every one of its fds, no ordering, no early stop, no cache, no lease. It
// judges the oracle (the demo's and the tests' "unsafe reclaims": a free while this
// finds a holder), so it shares nothing with the oracle's walk but the dev_t helpers:
// its own listing, its own line split, its own stat. Slow on purpose; never used to
// decide anything.

import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { devMajor, devMinor } from './dev-t.js';

export interface Holder {
  readonly pid: number;
  readonly comm: string;
  readonly how: 'maps' | 'fd';
}

export interface HolderReport {
  /** Processes that map the file or hold an fd to it. */
  readonly holders: readonly Holder[];
  /** Processes whose maps or fds could not be read: they might hold it too. */
  readonly unreadable: readonly number[];
}

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
};

const list = (path: string): string[] | undefined => {
  try {
    return readdirSync(path);
  } catch {
    return undefined;
  }
};

/** Whether a maps text has a line for device `major:minor`, inode `ino`. */
function mapsMention(text: string, major: number, minor: number, ino: bigint): boolean {
  if (!text.includes(String(ino))) return false;
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    if (fields.length < 5) continue;
    const [ma, mi] = (fields[3] ?? '').split(':');
    if (ma === undefined || mi === undefined) continue;
    if (fields[4] === String(ino) && parseInt(ma, 16) === major && parseInt(mi, 16) === minor) {
      return true;
    }
  }
  return false;
}

/**
 * Processes whose maps or fds this process may not read now (for the tests and
 * benchmarks of a machine whose own agents are opaque: see vouchedPids).
 */
export function unreadableProcesses(procRoot = '/proc'): number[] {
  return [...holdersOf({ dev: 0n, ino: 0n }, [process.pid], procRoot).unreadable];
}

/**
 * Every process but `exclude` (default: this one, which as the bridge maps every extent)
 * that maps `file` or holds an fd to it.
 */
export function holdersOf(
  file: { readonly dev: bigint; readonly ino: bigint },
  exclude: readonly number[] = [process.pid],
  procRoot = '/proc',
): HolderReport {
  const holders: Holder[] = [];
  const unreadable: number[] = [];
  const major = devMajor(file.dev);
  const minor = devMinor(file.dev);
  for (const name of list(procRoot) ?? []) {
    if (!/^[0-9]+$/.test(name) || exclude.includes(Number(name))) continue;
    const pid = Number(name);
    // A leader that exited while its threads run on has empty maps and no fds of its
    // own: look through its other threads then. A kernel thread or a zombie has none.
    let dirs = [`${procRoot}/${pid}`];
    let maps = read(`${dirs[0]}/maps`);
    if (maps === '') {
      const tids = (list(`${procRoot}/${pid}/task`) ?? []).filter((tid) => tid !== name);
      dirs = tids.map((tid) => `${procRoot}/${pid}/task/${tid}`);
    }
    let how: Holder['how'] | undefined;
    let blind = false;
    for (const dir of dirs) {
      maps = read(`${dir}/maps`);
      const fds = list(`${dir}/fd`);
      if (maps === undefined || fds === undefined) {
        // Gone (then the directory is gone too), or not ours to read.
        if (list(dir) !== undefined) blind = true;
        continue;
      }
      if (mapsMention(maps, major, minor, file.ino)) how ??= 'maps';
      for (const fd of fds) {
        try {
          // Sockets, pipes and anonymous inodes read as "socket:[…]" and the like.
          if (!readlinkSync(`${dir}/fd/${fd}`).startsWith('/')) continue;
          const st = statSync(`${dir}/fd/${fd}`, { bigint: true });
          if (st.dev === file.dev && st.ino === file.ino) how ??= 'fd';
        } catch {
          // closed meanwhile
        }
      }
    }
    if (how !== undefined) {
      holders.push({ pid, comm: (read(`${procRoot}/${pid}/comm`) ?? '?').trim(), how });
    } else if (blind) unreadable.push(pid);
  }
  return { holders, unreadable };
}
