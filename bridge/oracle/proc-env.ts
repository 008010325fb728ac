// Whether a walk over this /proc can see every process on the kernel at all. A process
// the walk cannot see might map a grant extent, so wherever one may exist the walk can
// prove "mapped" but never "unmapped". Checked once per oracle (none of it changes while
// the bridge runs): /proc must be our own pid namespace's, that namespace must be the
// kernel's initial one (a nested namespace cannot see the processes above it), and the
// mount must not hide processes (hidepid=invisible/ptraceable) from a bridge without
// CAP_SYS_PTRACE. Processes that are listed but unreadable (EACCES) are found during
// the walk itself.

import type { Blindness } from './types.js';
import { readProcLink, readProcText } from './proc-read.js';

/** /proc/self/ns/pid of the kernel's initial pid namespace (PROC_PID_INIT_INO). */
export const INITIAL_PID_NAMESPACE = 'pid:[4026531836]';

/** CAP_SYS_PTRACE's bit in CapEff: it sees through hidepid and reads every maps. */
const CAP_SYS_PTRACE = 19n;

/**
 * The hidepid option of the proc mount at `mountPoint` in a /proc/PID/mountinfo text
 * (the last mount there wins, as it hides the others), or undefined when there is none.
 * Field layout (proc(5)): ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE
 * SOURCE SUPEROPTIONS; hidepid is a super option.
 */
export function hidepidOption(mountinfo: string, mountPoint: string): string | undefined {
  let found: string | undefined;
  let seen = false;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 6 || fields[4] !== mountPoint || fields[dash + 1] !== 'proc') continue;
    seen = true;
    found = undefined;
    for (const option of (fields[dash + 3] ?? '').split(',')) {
      if (option.startsWith('hidepid=')) found = option.slice('hidepid='.length);
    }
  }
  return seen ? found : undefined;
}

/** Whether a hidepid value hides other processes' directories outright. */
export function hidepidHides(value: string | undefined): boolean {
  return value === '2' || value === 'invisible' || value === '4' || value === 'ptraceable';
}

/** Whether CapEff in a /proc/PID/status text holds CAP_SYS_PTRACE. */
export function hasPtraceCapability(status: string): boolean {
  const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return match !== null && ((BigInt(`0x${match[1]}`) >> CAP_SYS_PTRACE) & 1n) === 1n;
}

/** Why a walk over `procRoot` cannot see every process, or undefined when it can. */
export function procBlindness(procRoot: string, selfPid: number): Blindness | undefined {
  const self = readProcLink(`${procRoot}/self`);
  if (!('ok' in self) || self.ok !== String(selfPid)) {
    return {
      kind: 'foreign-proc',
      detail: `${procRoot} does not belong to this process's pid namespace`,
    };
  }
  const ns = readProcLink(`${procRoot}/self/ns/pid`);
  if (!('ok' in ns)) {
    return { kind: 'read-error', detail: `${procRoot}/self/ns/pid: ${ns.code ?? ns.failed}` };
  }
  if (ns.ok !== INITIAL_PID_NAMESPACE) {
    return {
      kind: 'nested-pid-namespace',
      detail: `this process runs in pid namespace ${ns.ok}; processes outside it are invisible`,
    };
  }
  const mountinfo = readProcText(`${procRoot}/self/mountinfo`);
  if (!('ok' in mountinfo)) {
    return { kind: 'read-error', detail: `${procRoot}/self/mountinfo: ${mountinfo.code ?? ''}` };
  }
  const hidepid = hidepidOption(mountinfo.ok, procRoot);
  if (hidepidHides(hidepid)) {
    const status = readProcText(`${procRoot}/self/status`);
    if (!('ok' in status) || !hasPtraceCapability(status.ok)) {
      return {
        kind: 'hidepid',
        detail: `${procRoot} is mounted with hidepid=${hidepid} and this process lacks CAP_SYS_PTRACE`,
      };
    }
  }
  return undefined;
}
