// What the soak run watches from outside the bridge, as an operator would: resident
// memory (/proc/PID/status), open fds (/proc/PID/fd), grant extents in use (its fds
// that are `memfd:grantway-extent-*`, one per extent the memfd backend has not freed),
// and CPU time (/proc/PID/stat). Reading from outside needs no hook in the bridge and
// cannot perturb it beyond a few syscalls a second.

import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ProcSample {
  readonly rssKiB: number;
  readonly fds: number;
  readonly extents: number;
  /** utime + stime, in clock ticks (USER_HZ, 100 on Linux). */
  readonly cpuTicks: number;
}

export const CLOCK_TICKS_PER_SECOND = 100;

const EXTENT_LINK = /^\/memfd:grantway-extent-/;

/** Whether the process exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** utime + stime of a process in clock ticks, or NaN if it is gone. */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}

/**
 * Nanoseconds the main thread of `pid` spent runnable but waiting for a CPU
 * (/proc/PID/schedstat, second field), or NaN. On a shared 2-core machine this is what
 * separates "the bridge is slow" from "the bridge was not scheduled".
 */
export function runQueueWaitNs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ');
    return Number(fields[1]);
  } catch {
    return Number.NaN;
  }
}

/** One sample of `pid`, or null if it is gone. */
export function sampleProcess(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(status);
    let fds = 0;
    let extents = 0;
    for (const name of readdirSync(`/proc/${pid}/fd`)) {
      fds++;
      try {
        if (EXTENT_LINK.test(readlinkSync(`/proc/${pid}/fd/${name}`))) extents++;
      } catch {
        // closed between readdir and readlink
      }
    }
    return {
      rssKiB: rss === null ? Number.NaN : Number(rss[1]),
      fds,
      extents,
      cpuTicks: cpuTicks(pid),
    };
  } catch {
    return null;
  }
}
