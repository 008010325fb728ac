// The compositors a hostile suite runs against, each in its own process: the embedded
// one always, weston headless where it is installed (suites skip it otherwise).

import { startEmbeddedCompositor } from '../../bridge/compositor/harness.js';
import { startWeston, westonAvailable } from '../../bridge/harness/weston.js';

export interface RunningCompositor {
  readonly pid: number;
  readonly runtimeDir: string;
  readonly socketPath: string;
  stop(): Promise<void>;
}

export type CompositorKind = 'embedded' | 'weston';

/** The kinds that can run here, for describe.each. */
export const COMPOSITOR_KINDS: readonly { kind: CompositorKind }[] = [
  { kind: 'embedded' as const },
  ...(westonAvailable() ? [{ kind: 'weston' as const }] : []),
];

export function startCompositor(
  kind: CompositorKind,
  socketName: string,
): Promise<RunningCompositor> {
  return kind === 'weston' ? startWeston({ socketName }) : startEmbeddedCompositor({ socketName });
}
