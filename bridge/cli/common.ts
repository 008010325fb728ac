// What every bridge-running command shares: loading protocols (built-in plus
// --protocol-dir), the logger, and the --trace sink.

import type { Logger } from 'pino';
import { loadProtocolDir, ProtocolRegistry } from '../protocol/registry.js';
import type { TraceSink } from '../relay/session.js';
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

/** Buffer-lifetime tracking for a CLI bridge: always on, recorded with --record FILE. */
export function createLifecycle(
  recordPath: string | undefined,
  argv: readonly string[],
): Lifecycle {
  return new Lifecycle({
    mode: 'passthrough',
    recordPath,
    source: `grantway ${argv.join(' ')}`,
  });
}
