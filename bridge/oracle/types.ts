// The E3 evidence of ARCHITECTURE.md §2, judged on every possible mapper: whether any process on
// this kernel other than the bridge still maps a file or holds it open (an open fd can
// map it again). A verdict is never a guess: when the bridge cannot see a process that
// might hold the file (another pid namespace, no permission, hidepid), it says
// 'unavailable', never 'unmapped'.

export type MappingVerdict = 'mapped' | 'unmapped' | 'unavailable';

/** A file's identity as fstat reports it. */
export interface FileIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
  /**
   * The bridge's own fd on the file, its only open file description of it, where the
   * file's owner guarantees that (memfd grant extents: bridge/grants/memfd.ts). Lets the
   * oracle ask the kernel directly whether anyone else holds the file (sole-holder.ts).
   */
  readonly ownFd?: number;
}

/** One file the oracle is asked about, with what the asker knows around it. */
export interface MappingQuestion {
  readonly file: FileIdentity;
  /**
   * A process whose own hold on the file does not count: the client that owns a
   * passthrough pool's file (it maps its own pool). Undefined in grant mode: nobody but
   * the bridge may hold an extent.
   */
  readonly ownerPid?: number;
  /**
   * The compositor as SO_PEERCRED names it (looked at first; 0: in a pid namespace we
   * cannot see). A hint only: it may be a wrapper that never maps anything.
   */
  readonly peerPid?: number;
  /**
   * False while the file's fd may still be in flight to the compositor (sent, not yet
   * known to be received: the compositor has not acknowledged the pool's destruction).
   * An fd queued in a socket is in no process's fd table, so a walk over /proc cannot
   * see it; such a file counts as held until delivered. Default true.
   */
  readonly delivered?: boolean;
}

export type BlindnessKind =
  | 'foreign-proc'
  | 'nested-pid-namespace'
  | 'hidepid'
  | 'peer-invisible'
  | 'no-permission'
  | 'read-error'
  | 'unparsable';

/** Why the oracle cannot see every process that might hold a file. */
export interface Blindness {
  readonly kind: BlindnessKind;
  /** For the operator: which process, which mount option, which namespace. */
  readonly detail: string;
}

export interface MappingOracle {
  /**
   * One look answering for many files at once (at most one walk over /proc), in the
   * order asked.
   */
  verdicts(questions: readonly MappingQuestion[]): MappingVerdict[];
  /** One file; answered from this turn's looks when the file was just looked at. */
  verdict(question: MappingQuestion): MappingVerdict;
  /**
   * The earliest time (performance.now() ms) the next look should start, so that looking
   * stays within the oracle's CPU budget; pollers schedule no earlier.
   */
  notBefore(): number;
  /** Why the last 'unavailable' answer for `file` was given (undefined otherwise). */
  blindnessFor(file: FileIdentity): Blindness | undefined;
}

/**
 * Said once (warn) when a walk cannot see every process: the pools it was asked about
 * wait for other evidence instead. Exported so tools reading the log can recognise it.
 */
export const E3_BLIND_MESSAGE =
  'E3: cannot see every process that may map a pool; it waits for other evidence (E2) instead';
