// The real compositors a suite runs against, each in its own process: the embedded one
// (always) and weston headless (when installed; suites skip it otherwise). Suites
// describe.each over COMPOSITORS and start one per suite.

import { startEmbeddedCompositor } from '../../harness/embedded.js';
import { startWeston, westonAvailable } from '../../harness/real/weston.js';

export type CompositorKind = 'embedded' | 'weston';

export interface RunningCompositor {
  readonly pid: number;
  /** Its private runtime dir, where a test may put a bridge's socket too. */
  readonly runtimeDir: string;
  readonly socketPath: string;
  stop(): Promise<void>;
}

/** The compositors that can run here. */
export const COMPOSITORS: readonly { readonly kind: CompositorKind }[] = [
  { kind: 'embedded' as const },
  ...(westonAvailable() ? [{ kind: 'weston' as const }] : []),
];

/** Starts one, listening on `socketName` in a fresh private runtime dir. */
export function startCompositor(
  kind: CompositorKind,
  socketName: string,
): Promise<RunningCompositor> {
  return kind === 'weston' ? startWeston({ socketName }) : startEmbeddedCompositor({ socketName });
}
