// What every bridge-running command shares: loading protocols (built-in plus
// --protocol-dir), the logger, and the --trace sink.

import type { Logger } from 'pino';
import { loadProtocolDir, ProtocolRegistry } from '../protocol/registry.js';
import type { TraceSink } from '../relay/session.js';
import { ProcMapsOracle } from '../oracle/proc-maps-oracle.js';
import type { MappingOracle } from '../oracle/types.js';
import { Lifecycle } from '../shm/lifecycle.js';

export async function loadRegistry(protocolDirs: readonly string[]): Promise<ProtocolRegistry> {
  const extra = [];
  for (const dir of protocolDirs) extra.push(...(await loadProtocolDir(dir)));
  return new ProtocolRegistry(extra);
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

/**
 * Buffer-lifetime tracking for a CLI bridge: always on, recorded with --record FILE,
 * with E3 evidence from the compositor's /proc/PID/maps (one oracle per compositor pid).
 */
export function createLifecycle(
  recordPath: string | undefined,
  argv: readonly string[],
): Lifecycle {
  const oracles = new Map<number, MappingOracle>();
  return new Lifecycle({
    mode: 'passthrough',
    recordPath,
    source: `grantway ${argv.join(' ')}`,
    oracleFor: (pid) => {
      let oracle = oracles.get(pid);
      if (oracle === undefined) {
        oracle = new ProcMapsOracle(pid > 0 ? pid : undefined);
        oracles.set(pid, oracle);
      }
      return oracle;
    },
  });
}
