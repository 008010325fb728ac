// A bridge for integration tests, in the mode under test, assembled as the CLI assembles
// it (bridge/assembly/): grant mode (the default, as on the command line) puts a memfd
// grant backend, the E3 oracle and the default reclaim policy behind it, so every real
// client a test runs through it exercises re-backed pools, copies and reclaims.

import { type AssembledBridge, assembleBridge } from '../../bridge/assembly/assemble.js';
import { ProtocolRegistry } from '../../bridge/protocol/registry.js';
import type { Bridge } from '../../bridge/relay/bridge.js';
import type { TraceSink } from '../../bridge/relay/session.js';
import type { Lifecycle } from '../../bridge/shm/lifecycle.js';

export type BridgeMode = 'grant' | 'passthrough';

export interface TestBridge {
  readonly bridge: Bridge;
  readonly lifecycle: Lifecycle;
  readonly assembled: AssembledBridge;
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
  const assembled = assembleBridge({
    listenPath: options.listenPath,
    upstreamPath: options.upstreamPath,
    registry,
    mode: options.mode ?? 'grant',
    trace: options.trace,
  });
  return {
    bridge: assembled.bridge,
    lifecycle: assembled.lifecycle,
    assembled,
    listenPath: assembled.listenPath,
    close: () => assembled.close(),
  };
}
