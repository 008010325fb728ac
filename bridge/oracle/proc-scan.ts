// The /proc walk of the E3 oracle: does any process other than the bridge map a file, or
// hold an fd to it? Used for files the kernel cannot be asked about directly (a
// passthrough pool is the client's file; leases refused), and as the independent view of
// the demo and tests. No single pid is trusted: SO_PEERCRED names whoever called
// listen(), which may be a wrapper (kwin_wayland_wrapper), a supervisor or systemd, not
// the process that maps; a compositor may also fork a renderer or double-fork away.
//
// Why every process, and not the peer's process tree plus its session and cgroup: the
// narrowed set is unsound (a double-forked helper can leave the tree, the session and
// the cgroup, and a supervisor can hand the fd to anyone) and saves little where it
// matters — the processes that do map are found first anyway (below), and the full walk
// is only paid to conclude "unmapped", once per extent. Measured by `npm run
// bench:oracle` (README, "E3 oracle").
//
// How a walk goes, for a batch of files:
//   1. the likely holders, maps only: the processes that held a wanted file in the last
//      walk, then the peer; it stops as soon as every file is found mapped, so the
//      common "still mapped" case costs about one maps read;
//   2. otherwise every process (the likely ones again), each one's fds (/proc/PID/fd/*,
//      one stat each) and then its maps, until every file is found; then the process
//      list again, for children forked meanwhile (one may hold a file its parent let go
//      of after the fork), until no newcomer is left. Reading fds before maps makes
//      "neither" sound per process: a process with no fd at the first read can map the
//      file later only with an fd received from another process.
// A walk is not a snapshot: a file passed from a process not yet read to one already
// read while the walk runs is missed, and an fd in flight in a socket is in no fd table
// (the asker treats undelivered files as held: MappingQuestion.delivered). The kernel's
// own answer (sole-holder.ts) has neither gap, which is why the oracle asks it first.
//
// Never 'unmapped' where a process might hide: the environment (proc-env.ts), a process
// whose maps or fds we may not read (EACCES: another user's, without CAP_SYS_PTRACE), a
// compositor whose pid we cannot see (SO_PEERCRED gave 0). Then the verdict is
// 'unavailable' with the reason; a file found mapped is still 'mapped'. Excluded: the
// bridge itself (it maps and holds every extent), zombies and kernel threads (no mm, no
// fds), and for a passthrough pool the client that owns it.

import { statSync } from 'node:fs';
import { fileKey, MapsParseError, type MappedFiles, parseMappedFiles } from './maps.js';
import { procBlindness } from './proc-env.js';
import { errorCode, listProcDir, readProcText } from './proc-read.js';
import type { Blindness, FileIdentity } from './types.js';

export interface ScanItem {
  readonly file: FileIdentity;
  /** Its hold does not count (a passthrough pool's client). */
  readonly ownerPid?: number;
  /** SO_PEERCRED's compositor pid: read first; 0 means it is invisible to us. */
  readonly peerPid?: number;
}

export type ScanVerdict =
  | { readonly verdict: 'mapped' | 'unmapped' }
  | { readonly verdict: 'unavailable'; readonly blindness: Blindness };

export interface ScanStats {
  walks: number;
  /** maps files read (both passes). */
  mapsRead: number;
  /** /proc/PID/fd directories listed, and fds stat'ed in them. */
  fdDirsRead: number;
  fdsStatted: number;
  /** Walks that ended in the maps pass because every file was found mapped. */
  shortCircuits: number;
}

export interface ProcScannerOptions {
  /** Where procfs is mounted (default /proc). */
  readonly procRoot?: string;
  /** The bridge's pid, whose holds never count (default process.pid). */
  readonly selfPid?: number;
  /**
   * Processes someone vouches will never hold a grant extent, whose maps and fds this
   * process may not read (a hypervisor's agent running as pid 1, say): unreadable, they
   * do not make a walk blind. Empty by default; tests and benchmarks use it for the
   * machine's own agents.
   */
  readonly vouchedPids?: readonly number[];
}

/** What reading one process's maps gave. */
type MapsLook =
  | { readonly mapped: MappedFiles; readonly dir: string }
  | { readonly nothing: true }
  | { readonly blind: Blindness };

/** The files of one walk still being looked for, by maps key and by stat identity. */
class Wanted {
  readonly verdicts: (ScanVerdict | undefined)[];
  private readonly byKey = new Map<string, number[]>();
  private readonly keyByStat = new Map<string, string>();
  private open: number;

  constructor(private readonly items: readonly ScanItem[]) {
    this.verdicts = new Array<ScanVerdict | undefined>(items.length).fill(undefined);
    this.open = items.length;
    items.forEach((item, i) => {
      const key = fileKey(item.file);
      const list = this.byKey.get(key);
      if (list === undefined) this.byKey.set(key, [i]);
      else list.push(i);
      this.keyByStat.set(statKeyOf(item.file), key);
    });
  }

  get done(): boolean {
    return this.open === 0;
  }

  /** Settles, as mapped, every item of `key` for which `pid`'s hold counts. */
  found(key: string, pid: number): boolean {
    const list = this.byKey.get(key);
    if (list === undefined) return false;
    const rest = list.filter((i) => {
      if (this.items[i]!.ownerPid === pid) return true;
      this.verdicts[i] = { verdict: 'mapped' };
      this.open--;
      return false;
    });
    if (rest.length === list.length) return false;
    if (rest.length === 0) this.byKey.delete(key);
    else this.byKey.set(key, rest);
    return true;
  }

  /** Checks one process's maps against every file still wanted; true if any was found. */
  foundInMaps(mapped: MappedFiles, pid: number): boolean {
    let any = false;
    if (mapped.size < this.byKey.size) {
      for (const key of mapped.keys()) if (this.byKey.has(key)) any = this.found(key, pid) || any;
    } else {
      for (const key of [...this.byKey.keys()])
        if (mapped.hasKey(key)) any = this.found(key, pid) || any;
    }
    return any;
  }

  keyOfStat(dev: number | bigint, ino: number | bigint): string | undefined {
    const key = this.keyByStat.get(statKey(dev, ino));
    return key !== undefined && this.byKey.has(key) ? key : undefined;
  }

  /** Everything not found: 'unmapped', or 'unavailable' when something was hidden. */
  finish(blind: Blindness | undefined): ScanVerdict[] {
    return this.verdicts.map(
      (v) =>
        v ??
        (blind === undefined
          ? { verdict: 'unmapped' }
          : { verdict: 'unavailable', blindness: blind }),
    );
  }
}

/** Times the process list is read again for newcomers before the walk gives up. */
const MAX_ROUNDS = 4;

const statKey = (dev: number | bigint, ino: number | bigint): string => `${dev}:${ino}`;
const statKeys = new WeakMap<FileIdentity, string>();
function statKeyOf(file: FileIdentity): string {
  let key = statKeys.get(file);
  if (key === undefined) statKeys.set(file, (key = statKey(file.dev, file.ino)));
  return key;
}

export class ProcScanner {
  readonly procRoot: string;
  readonly selfPid: number;
  /** Why no walk here can see every process (fixed for the process's life), if so. */
  readonly environment: Blindness | undefined;
  readonly stats: ScanStats = {
    walks: 0,
    mapsRead: 0,
    fdDirsRead: 0,
    fdsStatted: 0,
    shortCircuits: 0,
  };
  /** Processes that held a wanted file in the last walk: read first in the next. */
  private hot: number[] = [];
  private readonly vouched: ReadonlySet<number>;

  constructor(options: ProcScannerOptions = {}) {
    this.procRoot = options.procRoot ?? '/proc';
    this.selfPid = options.selfPid ?? process.pid;
    this.vouched = new Set(options.vouchedPids ?? []);
    this.environment = procBlindness(this.procRoot, this.selfPid);
  }

  /** One walk answering for every item, in order. */
  scan(items: readonly ScanItem[]): ScanVerdict[] {
    if (items.length === 0) return [];
    this.stats.walks++;
    const wanted = new Wanted(items);
    let blind = this.environment;
    if (items.some((item) => item.peerPid === 0)) {
      blind ??= {
        kind: 'peer-invisible',
        detail:
          'SO_PEERCRED gave pid 0: the compositor is in a pid namespace this process cannot see',
      };
    }
    const hot: number[] = [];
    const listed = this.processes();
    if ('blind' in listed) return wanted.finish(blind ?? listed.blind);
    const present = new Set(listed.pids);
    const peers = items.map((i) => i.peerPid ?? 0).filter((pid) => pid > 0);
    // 1. The likely holders, maps only: usually all it takes ("still mapped").
    const likely = [...new Set([...this.hot, ...peers])].filter((pid) => present.delete(pid));
    for (const pid of likely) {
      const look = this.readMaps(pid);
      if ('blind' in look) blind ??= look.blind;
      else if ('mapped' in look && wanted.foundInMaps(look.mapped, pid)) hot.push(pid);
      if (wanted.done) break;
    }
    if (wanted.done) {
      this.stats.shortCircuits++;
      this.hot = hot;
      return wanted.finish(undefined);
    }
    // 2. Everyone, the likely ones again, fds then maps: every holder found, or none.
    const read = new Set<number>();
    let pids = [...likely, ...present];
    for (let round = 0; pids.length > 0 && !wanted.done; round++) {
      for (const pid of pids) {
        read.add(pid);
        const found = this.readAll(pid, wanted);
        if (typeof found === 'object') blind ??= found;
        else if (found) hot.push(pid);
        if (wanted.done) break;
      }
      if (wanted.done || blind !== undefined) break;
      // A child forked meanwhile may hold a file its parent let go of after the fork.
      const again = this.processes();
      if ('blind' in again) {
        blind = again.blind;
        break;
      }
      pids = again.pids.filter((pid) => !read.has(pid));
      if (round === MAX_ROUNDS && pids.length > 0) {
        blind = { kind: 'read-error', detail: 'processes appear faster than the walk reads them' };
        break;
      }
    }
    this.hot = hot;
    return wanted.finish(wanted.done ? undefined : blind);
  }

  /**
   * One process, fds first and then maps (module comment): whether it holds a wanted file
   * (settling those it holds), or what hid it.
   */
  private readAll(pid: number, wanted: Wanted): boolean | Blindness {
    let dir = `${this.procRoot}/${pid}`;
    let found = false;
    let blind: Blindness | undefined;
    for (;;) {
      const fds = this.heldInFds(dir, pid, wanted);
      if (typeof fds === 'object') blind ??= fds;
      else found = fds || found;
      const look = this.readMaps(pid);
      if ('blind' in look) blind ??= look.blind;
      else if ('mapped' in look) {
        found = wanted.foundInMaps(look.mapped, pid) || found;
        // The leader exited and a thread runs on: its fd table is read through the
        // thread, before its maps again (rare).
        if (look.dir !== dir) {
          dir = look.dir;
          continue;
        }
      }
      return found || blind === undefined ? found : blind;
    }
  }

  /** Whether any fd in `dir`/fd points to a wanted file (settling it), or a blindness. */
  private heldInFds(dir: string, pid: number, wanted: Wanted): boolean | Blindness {
    const fds = listProcDir(`${dir}/fd`);
    this.stats.fdDirsRead++;
    if (!('ok' in fds)) {
      if (fds.failed === 'gone' || this.vouched.has(pid)) return false;
      return this.blindness(pid, fds.failed, 'fds', fds.code);
    }
    let found = false;
    for (const name of fds.ok) {
      const held = this.heldKey(`${dir}/fd/${name}`, wanted);
      if (typeof held === 'object') {
        if (!this.vouched.has(pid)) return held;
      } else if (held !== undefined) found = wanted.found(held, pid) || found;
    }
    return found;
  }

  /** The maps key of the wanted file an fd link points to, a blindness, or undefined. */
  private heldKey(link: string, wanted: Wanted): string | Blindness | undefined {
    this.stats.fdsStatted++;
    try {
      const st = statSync(link, { bigint: true, throwIfNoEntry: false });
      return st === undefined ? undefined : wanted.keyOfStat(st.dev, st.ino);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EACCES' || code === 'EPERM') {
        return { kind: 'no-permission', detail: `stat ${link}: ${code}` };
      }
      // Closed meanwhile (ENOENT), or a file whose file system cannot answer (a FUSE
      // mount whose daemon died: ENOTCONN, EIO): never a pool's memfd or tmpfs file,
      // whose stat cannot fail.
      return undefined;
    }
  }

  private processes(): { readonly pids: number[] } | { readonly blind: Blindness } {
    const entries = listProcDir(this.procRoot);
    if (!('ok' in entries)) {
      return {
        blind: {
          kind: 'read-error',
          detail: `${this.procRoot}: ${entries.code ?? entries.failed}`,
        },
      };
    }
    const pids: number[] = [];
    for (const name of entries.ok) {
      const c = name.charCodeAt(0);
      if (c < 0x30 || c > 0x39) continue;
      const pid = Number(name);
      if (Number.isSafeInteger(pid) && pid !== this.selfPid) pids.push(pid);
    }
    return { pids };
  }

  /**
   * One process's maps. Empty maps (or ESRCH) mean no mm: a kernel thread, or an exited
   * process — unless it is a thread-group leader that exited while other threads run on, whose mm
   * (and fd table) is then read through one of those threads.
   */
  private readMaps(pid: number): MapsLook {
    let dir = `${this.procRoot}/${pid}`;
    let text = readProcText(`${dir}/maps`);
    this.stats.mapsRead++;
    const noMm = 'ok' in text ? text.ok.length === 0 : text.code === 'ESRCH';
    if (noMm) {
      const tasks = listProcDir(`${dir}/task`);
      const other = 'ok' in tasks ? tasks.ok.find((tid) => tid !== String(pid)) : undefined;
      if (other === undefined) return { nothing: true };
      dir = `${dir}/task/${other}`;
      text = readProcText(`${dir}/maps`);
      this.stats.mapsRead++;
    }
    if (!('ok' in text)) {
      return text.failed === 'gone' || this.vouched.has(pid)
        ? { nothing: true }
        : { blind: this.blindness(pid, text.failed, 'maps', text.code) };
    }
    if (text.ok.length === 0) return { nothing: true };
    try {
      return { mapped: parseMappedFiles(text.ok), dir };
    } catch (error) {
      if (!(error instanceof MapsParseError)) throw error;
      return { blind: { kind: 'unparsable', detail: `${dir}/maps: ${error.message}` } };
    }
  }

  private blindness(
    pid: number,
    failed: 'no-permission' | 'read-error',
    what: string,
    code?: string,
  ): Blindness {
    const comm = readProcText(`${this.procRoot}/${pid}/comm`);
    const name = 'ok' in comm ? ` (${comm.ok.trim()})` : '';
    return {
      kind: failed,
      detail: `cannot read ${what} of pid ${pid}${name}: ${code ?? failed}`,
    };
  }
}
