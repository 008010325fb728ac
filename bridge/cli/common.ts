// What every bridge-running command shares: loading protocols (built-in plus
// --protocol-dir), the logger, the --trace sink, the per-client limits and the policy.

import type { Logger } from 'pino';
import { registryWithProtocolDirs } from '../protocol/protocol-dirs.js';
import type { ProtocolRegistry } from '../protocol/registry.js';
import type { TraceSink } from '../relay/session.js';
import {
  PolicyOptionError,
  UnknownPolicyError,
  DEFAULT_POLICY,
  createPolicy,
} from '../../policies/index.js';
import type { ReclaimPolicy } from '../../policies/index.js';
import type { ClientLimits } from '../relay/limits.js';
import type { ProxyLimits } from '../relay/proxy-limits.js';
import { type BridgeModeOptions, type LimitFlags, OptionError } from './options.js';

/** Built-ins plus --protocol-dir; a bad file is logged and skipped, not fatal. */
export function loadRegistry(
  protocolDirs: readonly string[],
  log: Logger,
): Promise<ProtocolRegistry> {
  return registryWithProtocolDirs(protocolDirs, log);
}

/** WAYLAND_DEBUG-like lines on stderr, stamped in milliseconds like libwayland's. */
export function stderrTrace(): TraceSink {
  return (line: string) => {
    const ms = (performance.now() + performance.timeOrigin) % 1e7;
    process.stderr.write(`[${ms.toFixed(3).padStart(11, ' ')}] ${line}\n`);
  };
}

export function traceFor(enabled: boolean): TraceSink | undefined {
  return enabled ? stderrTrace() : undefined;
}

export type { Logger };

/** The --max-* and --stall-timeout-ms flags as BridgeOptions.limits (unset: the default). */
export function limitsFromFlags(options: LimitFlags): Partial<ClientLimits> {
  return {
    maxPoolSize: options['max-pool-size'],
    maxShmTotal: options['max-shm-total'],
    maxShmDeclared: options['max-shm-declared'],
    maxObjects: options['max-objects'],
    maxFds: options['max-fds'],
    maxBufferedBytes: options['max-buffered'],
    stallTimeoutMs: options['stall-timeout-ms'],
  };
}

/** --max-clients, --max-clients-per-uid, --max-shm-total-all (unset: the machine's default). */
export function proxyLimitsFromFlags(options: LimitFlags): Partial<ProxyLimits> {
  return {
    maxClients: options['max-clients'],
    maxClientsPerUid: options['max-clients-per-uid'],
    maxShmTotalAll: options['max-shm-total-all'],
  };
}

/** --policy/--policy-opt as a policy (default: evidence at E3); errors name the option. */
export function policyFromFlags(options: BridgeModeOptions): ReclaimPolicy {
  try {
    return createPolicy(options.policy ?? DEFAULT_POLICY, options['policy-opt'] ?? []);
  } catch (err) {
    if (err instanceof UnknownPolicyError || err instanceof PolicyOptionError) {
      throw new OptionError(`--policy: ${err.message}`);
    }
    throw err;
  }
}
