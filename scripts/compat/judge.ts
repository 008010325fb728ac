// The verdict on one cell of the matrix (a program, a compositor, a mode), each bridged
// run judged against the same program's direct run on the same compositor: it started
// and mapped (or exited, or pasted) like direct; no protocol error either side; the
// bridge logged no limit, error or unsafe reclaim; every pool reached E3 (E2 where the
// bridge said it cannot see every process) and none is left (so no grant is left); the globals equal direct's; the pixels equal direct's
// where the compositor can take a screenshot and the program shows a still. Pure.

import type { RgbaImage } from '../../harness/compositor/png.js';
import { diffGlobals, type GlobalsDiff, globalsEqual } from './observe.js';
import { comparePixels, isStill } from './pixels.js';
import { CLIPBOARD_TEXT, type ProgramSpec } from './programs.js';
import type { Mode, ProgramRun, RecordSummary } from './run-program.js';

/**
 * works: every check passed; hidden: everything works but the bridge offered fewer
 * globals (or other versions) than direct; fails: a check failed; n/a: the direct run
 * itself failed, so there is nothing to judge the bridged run against.
 */
export type Status = 'works' | 'hidden' | 'fails' | 'n/a';

export type PixelCheck =
  'equal' | 'animated' | 'not compared' | 'no window' | `random: ${string}` | `differs: ${string}`;

export interface CellVerdict {
  readonly mode: Mode;
  readonly status: Status;
  /** Why it fails (or, for n/a, what the run did); empty when it works. */
  readonly reasons: readonly string[];
  readonly globals?: GlobalsDiff;
  readonly pixels: PixelCheck;
  /** Pools the record saw, and how many reached E3 (bridged runs). */
  readonly pools?: { readonly total: number; readonly e3: number; readonly alive: number };
  /**
   * The bridge said it cannot see every process that may map a pool (why): its pools were
   * judged at E2, the highest evidence it can honestly reach here.
   */
  readonly e3Unavailable?: string;
}

/** Loads a screenshot; undefined when it cannot be read. */
export type ImageLoader = (file: string) => RgbaImage | undefined;

function lastLine(run: ProgramRun): string {
  const line = [...run.debug.otherLines].reverse().find((l) => l.trim() !== '');
  return line === undefined ? '' : `: ${line.trim().slice(0, 200)}`;
}

/** What went wrong with the run itself, whatever the mode. */
function runFailures(run: ProgramRun, program: ProgramSpec): string[] {
  if (run.startError !== undefined) return [`cannot start: ${run.startError}`];
  const reasons: string[] = [];
  const exit =
    run.exit === null
      ? 'did not exit'
      : run.exit.signal !== null
        ? `killed by ${run.exit.signal}`
        : `exit ${run.exit.code}`;
  if (program.kind === 'window' && !run.debug.mapped) {
    reasons.push(
      run.timedOut
        ? `no window mapped in time${lastLine(run)}`
        : `${exit} before mapping a window${lastLine(run)}`,
    );
  }
  if (program.kind === 'oneshot' && (run.timedOut || run.exit?.code !== 0))
    reasons.push(run.timedOut ? 'did not finish in time' : `${exit}${lastLine(run)}`);
  if (program.kind === 'clipboard' && run.pasted !== CLIPBOARD_TEXT)
    reasons.push(
      run.timedOut
        ? `wl-paste hung${lastLine(run)}`
        : `wl-paste printed ${JSON.stringify((run.pasted ?? '').slice(0, 60))} (${exit})${lastLine(run)}`,
    );
  for (const error of run.debug.protocolErrors)
    reasons.push(`protocol error: ${error.slice(0, 240)}`);
  return reasons;
}

export function judgeDirect(
  run: ProgramRun,
  program: ProgramSpec,
  load: ImageLoader,
  compositor = '',
): CellVerdict {
  const reasons = runFailures(run, program);
  let pixels: PixelCheck = 'not compared';
  if (program.kind !== 'window') pixels = 'no window';
  else if (
    program.noPixels !== undefined &&
    (program.noPixelsOn === undefined || program.noPixelsOn.includes(compositor))
  )
    pixels = `random: ${program.noPixels}`;
  else if (run.shots.length >= 2) {
    const [a, b] = [load(run.shots[0]!), load(run.shots[1]!)];
    if (a !== undefined && b !== undefined) pixels = isStill(a, b) ? 'equal' : 'animated';
  }
  return { mode: 'direct', status: reasons.length === 0 ? 'works' : 'fails', reasons, pixels };
}

function recordFailures(
  record: RecordSummary | { error: string } | undefined,
  e3Blind: string | undefined,
): {
  reasons: string[];
  pools?: CellVerdict['pools'];
} {
  if (record === undefined) return { reasons: ['no record'] };
  if ('error' in record) return { reasons: [`record: ${record.error}`] };
  const e = record.evidenceReached;
  const pools = { total: record.pools, e3: e.E3, alive: record.poolsAlive };
  const reasons: string[] = [];
  // Where the bridge cannot see every process, E2 is the most it can honestly say.
  const short = e3Blind === undefined ? record.pools - e.E3 : e.E0 + e.E1;
  if (short > 0)
    reasons.push(
      `${short} of ${record.pools} pools never reached ${e3Blind === undefined ? 'E3' : 'E2 (E3 is blind here)'} (E0 ${e.E0}, E1 ${e.E1}, E2 ${e.E2})`,
    );
  if (record.poolsAlive > 0) reasons.push(`${record.poolsAlive} pools still alive at the end`);
  return { reasons, pools };
}

export function judgeBridged(
  run: ProgramRun,
  direct: ProgramRun,
  directVerdict: CellVerdict,
  program: ProgramSpec,
  empty: RgbaImage | undefined,
  load: ImageLoader,
): CellVerdict {
  // The bridge's own account first: a program's errors are often only its consequence.
  const reasons = (run.bridge?.issues ?? []).map((issue) => `bridge: ${issue}`);
  for (const why of run.bridge?.closeReasons ?? [])
    if (!reasons.some((r) => r.includes(why))) reasons.push(`bridge closed the session: ${why}`);
  reasons.push(...runFailures(run, program));
  const record = recordFailures(run.record, run.bridge?.e3Blind);
  reasons.push(...record.reasons);
  const globals =
    run.debug.globals.size === 0 && reasons.length > 0
      ? undefined
      : diffGlobals(direct.debug.globals, run.debug.globals);
  let pixels: PixelCheck = directVerdict.pixels === 'equal' ? 'not compared' : directVerdict.pixels;
  if (directVerdict.pixels === 'equal' && empty !== undefined && run.shots.length > 0) {
    const reference = load(direct.shots[0]!);
    const shot = load(run.shots[0]!);
    if (reference !== undefined && shot !== undefined) {
      const verdict = comparePixels(reference, shot, empty);
      pixels = verdict.kind === 'differs' ? `differs: ${verdict.detail}` : 'equal';
      if (verdict.kind === 'differs') reasons.push(`pixels differ from direct: ${verdict.detail}`);
    }
  }
  let status: Status;
  if (directVerdict.status === 'fails') status = 'n/a';
  else if (reasons.length > 0) status = 'fails';
  else status = globals === undefined || globalsEqual(globals) ? 'works' : 'hidden';
  return {
    mode: run.mode,
    status,
    reasons,
    ...(globals === undefined ? {} : { globals }),
    pixels,
    ...(record.pools === undefined ? {} : { pools: record.pools }),
    ...(run.bridge?.e3Blind === undefined ? {} : { e3Unavailable: run.bridge.e3Blind }),
  };
}
