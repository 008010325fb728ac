// The E3 evidence of DESIGN §2: whether the compositor process still maps a file.
// A verdict is never a guess: when the bridge cannot look (other pid namespace, other
// machine, no permission) it says 'unavailable'.

export type MappingVerdict = 'mapped' | 'unmapped' | 'unavailable';

/** A file's identity as fstat reports it. */
export interface FileIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
}

export interface MappingOracle {
  /** pid being observed, or undefined when none could be determined. */
  readonly pid: number | undefined;
  /** One look at the process's mappings. */
  verdict(file: FileIdentity): MappingVerdict;
  /** One look answering for many files at once (one read of /proc). */
  verdicts(files: readonly FileIdentity[]): MappingVerdict[];
}
