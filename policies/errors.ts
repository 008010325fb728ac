// The ways the reclaim scheduler and the policy registry refuse, one class each with a
// stable `code` (ARCHITECTURE.md §7, undici's model): callers (the CLI, the bench) match on the
// kind of failure, never on message text.

/** `--policy NAME` names no built-in policy. */
export class UnknownPolicyError extends Error {
  readonly code = 'ERR_POLICY_UNKNOWN';
  override readonly name = 'UnknownPolicyError';
  constructor(
    readonly policy: string,
    readonly known: readonly string[],
  ) {
    super(`unknown policy ${JSON.stringify(policy)} (policies: ${known.join(', ')})`);
  }
}

/** A `--policy-opt` that is malformed, unknown to the policy, or out of range. */
export class PolicyOptionError extends Error {
  readonly code = 'ERR_POLICY_OPTION';
  override readonly name = 'PolicyOptionError';
  constructor(
    readonly policy: string,
    /** The option at fault ('' when the whole `key=value` is malformed). */
    readonly option: string,
    detail: string,
  ) {
    super(
      option === ''
        ? `policy ${policy}: ${detail}`
        : `policy ${policy}: option ${option}: ${detail}`,
    );
  }
}

/**
 * The scheduler was asked something its records forbid: retiring a grant it does not
 * hold or twice, freeing one whose access has not ended, reusing one that is not
 * cached. A bug in the caller or a policy; nothing was changed.
 */
export class SchedulerStateError extends Error {
  readonly code = 'ERR_SCHEDULER_STATE';
  override readonly name = 'SchedulerStateError';
  constructor(
    readonly operation: string,
    readonly grant: number,
    readonly phase: string,
  ) {
    super(`reclaim scheduler: ${operation} on grant ${grant}: not allowed when ${phase}`);
  }
}
