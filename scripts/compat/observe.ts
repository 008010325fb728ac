// What one run of a program tells, read from the text it leaves behind: its own
// WAYLAND_DEBUG=client trace (the globals it was offered, whether it mapped a window,
// any wl_display.error it received), its other stderr lines that name a protocol
// failure, and the bridge's JSON log lines. Pure: lines in, facts out, so every rule is
// unit-tested and the same for direct and bridged runs.

import { E3_BLIND_MESSAGE } from '../../bridge/oracle/types.js';

/** One `wl_registry.global` as the program saw it. */
export type Globals = Map<string, number>;

export interface DebugFacts {
  /** Union of every registry's globals: interface → highest version offered. */
  readonly globals: Globals;
  /** A toplevel was configured and acknowledged, and a surface committed a buffer after. */
  readonly mapped: boolean;
  /** wl_display.error events received, and stderr lines that report a protocol failure. */
  readonly protocolErrors: readonly string[];
  /** The last stderr lines that are not WAYLAND_DEBUG or bridge log lines. */
  readonly otherLines: readonly string[];
}

const GLOBAL = /wl_registry@\d+\.global\(\d+, "([^"]+)", (\d+)\)/;
const REQUEST = /^\[[ 0-9.]+\] {2}-> /;
const ATTACH = / -> wl_surface@(\d+)\.attach\(wl_buffer@\d+/;
const COMMIT = / -> wl_surface@(\d+)\.commit\(\)/;
const ACK = / -> (?:xdg_surface|zxdg_surface_v6)@\d+\.ack_configure\(/;
const DISPLAY_ERROR = /wl_display@1\.error\(/;
const FAILURE_TEXT =
  /protocol error|error in client communication|wl_display@1\.error|Lost connection to Wayland compositor|failed to dispatch|Error (?:flushing|reading events)|Broken pipe/i;
const OTHER_KEPT = 40;

/** Reads a program's stderr line by line (WAYLAND_DEBUG=client on). */
export class DebugScanner {
  private readonly globals: Globals = new Map();
  private acked = false;
  private readonly attached = new Set<string>();
  private mappedAt = false;
  private readonly errors: string[] = [];
  private readonly other: string[] = [];

  feed(line: string): void {
    if (line.startsWith('{"level":')) return; // the bridge's log (grantway run shares stderr)
    if (line.startsWith('[')) {
      const global = GLOBAL.exec(line);
      if (global !== null && !REQUEST.test(line)) {
        const version = Number(global[2]);
        const known = this.globals.get(global[1]!) ?? 0;
        this.globals.set(global[1]!, Math.max(known, version));
        return;
      }
      if (ACK.test(line)) {
        this.acked = true;
        return;
      }
      const attach = ATTACH.exec(line);
      if (attach !== null) {
        this.attached.add(attach[1]!);
        return;
      }
      const commit = COMMIT.exec(line);
      if (commit !== null) {
        if (this.acked && this.attached.has(commit[1]!)) this.mappedAt = true;
        return;
      }
      if (DISPLAY_ERROR.test(line) && !REQUEST.test(line)) {
        this.errors.push(line.replace(/^\[[ 0-9.]+\] /, ''));
        return;
      }
      if (/^\[[ 0-9.]+\] /.test(line)) return; // any other message
    }
    if (line.trim() === '') return;
    if (FAILURE_TEXT.test(line)) this.errors.push(line.trim());
    this.other.push(line);
    if (this.other.length > OTHER_KEPT) this.other.shift();
  }

  get mapped(): boolean {
    return this.mappedAt;
  }

  facts(): DebugFacts {
    return {
      globals: new Map(this.globals),
      mapped: this.mappedAt,
      protocolErrors: [...new Set(this.errors)],
      otherLines: [...this.other],
    };
  }
}

export interface BridgeLogFacts {
  /** warn/error lines: limits hit, protocol errors either side, grants still mapped. */
  readonly issues: readonly string[];
  /** Why sessions closed, other than the client or compositor simply leaving. */
  readonly closeReasons: readonly string[];
  /** Globals the bridge hid from its clients (no protocol loaded). */
  readonly hidden: readonly string[];
  /**
   * Why the bridge said it cannot see every process that may map a pool (its E3 walk is
   * blind here, e.g. a process it may not read): those pools can reach E2 at most.
   */
  readonly e3Blind?: string;
}

/**
 * A session that ends because the client left (closed its socket, or died with events
 * still on their way to it), or because the bridge stopped, ended normally.
 */
const NORMAL_CLOSE = new Set([
  'peer gone',
  'client disconnected',
  'client gone',
  'bridge shutting down',
]);

interface PinoLine {
  level?: number;
  msg?: string;
  reason?: string;
  detail?: string;
  interface?: string;
}

/** The bridge's JSON log lines (pino); anything else is ignored. */
export function scanBridgeLog(lines: Iterable<string>): BridgeLogFacts {
  const issues: string[] = [];
  const reasons: string[] = [];
  const hidden = new Set<string>();
  let e3Blind: string | undefined;
  for (const line of lines) {
    if (!line.startsWith('{"level":')) continue;
    let entry: PinoLine;
    try {
      entry = JSON.parse(line) as PinoLine;
    } catch {
      continue;
    }
    const msg = entry.msg ?? '';
    if (msg === E3_BLIND_MESSAGE) {
      // Not a fault of the run: the bridge says honestly that it cannot look here.
      e3Blind = [entry.reason, entry.detail].filter((x) => x !== undefined).join(': ');
      continue;
    }
    if ((entry.level ?? 0) >= 40) issues.push(msg);
    if (msg === 'session closed' && entry.reason !== undefined && !NORMAL_CLOSE.has(entry.reason))
      reasons.push(entry.reason);
    // "global X hidden from the client: …" (older bridges: "global hidden: …").
    if (/^global .*hidden/.test(msg) && entry.interface !== undefined) hidden.add(entry.interface);
  }
  return {
    issues: [...new Set(issues)],
    closeReasons: [...new Set(reasons)],
    hidden: [...hidden],
    ...(e3Blind === undefined ? {} : { e3Blind }),
  };
}

export interface GlobalsDiff {
  /** Offered direct, not through the bridge. */
  readonly hidden: readonly string[];
  /** Offered through the bridge, never direct. */
  readonly added: readonly string[];
  /** Offered both ways at different versions: "name v5→v4". */
  readonly versions: readonly string[];
}

export function diffGlobals(direct: Globals, bridged: Globals): GlobalsDiff {
  const hidden = [...direct.keys()].filter((name) => !bridged.has(name)).sort();
  const added = [...bridged.keys()].filter((name) => !direct.has(name)).sort();
  const versions = [...direct]
    .filter(([name, v]) => bridged.has(name) && bridged.get(name) !== v)
    .map(([name, v]) => `${name} v${v}→v${bridged.get(name)}`)
    .sort();
  return { hidden, added, versions };
}

export const globalsEqual = (d: GlobalsDiff): boolean =>
  d.hidden.length === 0 && d.added.length === 0 && d.versions.length === 0;
