// A bridge for integration tests, in the mode under test: grant mode (the default, as
// on the command line) puts a memfd grant backend and the E3 oracle behind it, so every
// real client a test runs through it exercises re-backed pools and copies.

import { silentLogger } from '../../bridge/log.js';
import { MemfdGrantBackend } from '../../bridge/grants/memfd.js';
import { oracleMappingSource } from '../../bridge/grants/oracle-source.js';
import { SystemOracle } from '../../bridge/oracle/system-oracle.js';
import { ProtocolRegistry } from '../../bridge/protocol/registry.js';
import { Bridge } from '../../bridge/relay/bridge.js';
import type { TraceSink } from '../../bridge/relay/session.js';
import { Lifecycle } from '../../bridge/shm/lifecycle.js';

export type BridgeMode = 'grant' | 'passthrough';

export interface TestBridge {
  readonly bridge: Bridge;
  readonly lifecycle: Lifecycle;
  readonly listenPath: string;
  close(): void;
}

const registry = new ProtocolRegistry();

export function startTestBridge(options: {
  listenPath: string;
  upstreamPath: string;
  mode?: BridgeMode;
  trace?: TraceSink;
}): TestBridge {
  const oracle = new SystemOracle();
  const lifecycle = new Lifecycle({
    mode: options.mode ?? 'grant',
    oracle,
    grants:
      (options.mode ?? 'grant') === 'grant'
        ? {
            backend: new MemfdGrantBackend({ remote: oracleMappingSource(oracle) }),
            log: silentLogger,
          }
        : undefined,
  });
  const bridge = Bridge.start({
    listenPath: options.listenPath,
    upstreamPath: options.upstreamPath,
    registry,
    log: silentLogger,
    trace: options.trace,
    observe: lifecycle.factory,
  });
  return {
    bridge,
    lifecycle,
    listenPath: bridge.listenPath,
    close(): void {
      bridge.close();
      lifecycle.close();
    },
  };
}
