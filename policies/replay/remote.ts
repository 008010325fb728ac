// The simulated compositor's side of a replay: *when* it unmaps a pool. A trace records
// what the client and the compositor said on the wire; how long the compositor then
// keeps the pages mapped is what differs between compositors, so it is a model, and
// every policy is judged against each model. The replay drives SimGrantBackend's
// simulateRemoteMap/Unmap from the model, and the model's unmap time is the ground
// truth (E3) that scores every reclaim.
//
// Every model maps a pool when it is created (libwayland-server mmaps at create_pool)
// and unmaps everything of a client that has gone (its resources are destroyed), except
// where noted:
// - `libwayland`: unmaps when the pool and every buffer made from it are retired (E2),
//   as libwayland-server does when its last reference goes;
// - `holds-last-buffer`: like libwayland, but keeps a pool mapped while a buffer of it
//   is the last one committed to some surface (as compositors that keep the last frame
//   of a surface for redraws do) — until the surface shows another buffer or the
//   client leaves (traces do not record surface destruction);
// - `lazy`: like libwayland, plus a random delay per pool, exponentially distributed
//   (mean `meanMs`, seeded: the same delays on every run);
// - `never-until-disconnect`: never unmaps while the client is connected.

import { exponential } from './random.js';

export const REMOTE_MODEL_NAMES = [
  'libwayland',
  'holds-last-buffer',
  'lazy',
  'never-until-disconnect',
] as const;
export type RemoteModelName = (typeof REMOTE_MODEL_NAMES)[number];

/** What the replay knows about a pool life when it asks the model. */
export interface PoolFacts {
  /** The compositor retired the pool and every buffer made from it (E2). */
  readonly retired: boolean;
  /** A buffer of the pool is the last one committed to a surface. */
  readonly shown: boolean;
  /** The client has disconnected (or was killed). */
  readonly clientGone: boolean;
  /** Uniform in [0, 1), drawn for this pool life when it was created (seeded). */
  readonly u: number;
}

export interface RemoteModel {
  readonly name: RemoteModelName;
  /**
   * How long from now until the compositor unmaps the pool, or undefined for "not on
   * these facts". Asked after every change to a mapped pool's facts until it answers.
   */
  unmapDelay(facts: PoolFacts): number | undefined;
}

export interface RemoteModelOptions {
  /** `lazy`: mean of the exponential unmap delay, ms. */
  readonly meanMs?: number;
}

export const LAZY_MEAN_MS = 50;

export function isRemoteModelName(name: string): name is RemoteModelName {
  return (REMOTE_MODEL_NAMES as readonly string[]).includes(name);
}

export function remoteModel(name: RemoteModelName, options: RemoteModelOptions = {}): RemoteModel {
  switch (name) {
    case 'libwayland':
      return { name, unmapDelay: (f) => (f.retired || f.clientGone ? 0 : undefined) };
    case 'holds-last-buffer':
      return {
        name,
        unmapDelay: (f) => (f.clientGone || (f.retired && !f.shown) ? 0 : undefined),
      };
    case 'lazy': {
      const mean = options.meanMs ?? LAZY_MEAN_MS;
      return {
        name,
        unmapDelay: (f) => (f.retired || f.clientGone ? exponential(f.u, mean) : undefined),
      };
    }
    case 'never-until-disconnect':
      return { name, unmapDelay: (f) => (f.clientGone ? 0 : undefined) };
  }
}
