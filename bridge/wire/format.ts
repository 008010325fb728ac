// Human-readable one-line rendering of a decoded message for traces and logs, in the
// look of libwayland's WAYLAND_DEBUG output so that bridge traces can be read (and
// diffed) side by side with a client's or compositor's own debug log.

import type { MessageSpec } from '../protocol/types.js';
import type { ArgValue } from './values.js';

/** Maps a live object id to its interface name, when the caller tracks objects. */
export type InterfaceLookup = (id: number) => string | undefined;

/**
 * `wl_registry#2.bind(1, "wl_compositor", 4, new id wl_compositor#3)`.
 *
 * Renders as WAYLAND_DEBUG does: int/uint in decimal, fixed with 8 exact decimals,
 * strings quoted, null string/object as `nil`, `array[N]` (N bytes), `fd N`,
 * `new id iface#N`, object `iface#N` (interface from `lookup`, else from the spec,
 * else `#N`). Departures: string contents are JSON-escaped so a hostile string cannot
 * forge trace lines, and an untyped new_id shows its interface instead of `[unknown]`.
 * Values of the wrong type (from a buggy caller) are shown, never thrown on.
 */
export function formatMessage(
  interfaceName: string,
  objectId: number,
  spec: MessageSpec,
  args: readonly ArgValue[],
  lookup?: InterfaceLookup,
): string {
  const parts: string[] = [];
  for (let i = 0; i < spec.args.length; i++) {
    const arg = spec.args[i]!;
    const v = args[i];
    switch (arg.type) {
      case 'int':
      case 'uint':
        parts.push(show(v));
        break;
      case 'fixed':
        parts.push(typeof v === 'number' ? formatFixed(v) : show(v));
        break;
      case 'string':
        parts.push(typeof v === 'string' ? JSON.stringify(v) : 'nil');
        break;
      case 'object':
        if (v === 0 || v === null) parts.push('nil');
        else if (typeof v === 'number') {
          parts.push(`${lookup?.(v) ?? arg.interface ?? ''}#${v}`);
        } else parts.push(show(v));
        break;
      case 'new_id':
        if (v === 0 || v === null) parts.push('nil');
        else if (typeof v === 'number') parts.push(`new id ${arg.interface ?? '[unknown]'}#${v}`);
        else if (typeof v === 'object' && !(v instanceof Uint8Array)) {
          // Untyped new_id: on the wire it is three values, and WAYLAND_DEBUG shows three.
          parts.push(JSON.stringify(v.interface), String(v.version));
          parts.push(v.id === 0 ? 'nil' : `new id ${v.interface}#${v.id}`);
        } else parts.push(show(v));
        break;
      case 'array':
        parts.push(v instanceof Uint8Array ? `array[${v.length}]` : show(v));
        break;
      case 'fd':
        parts.push(`fd ${show(v)}`);
        break;
      default:
        parts.push(show(v));
    }
  }
  return `${interfaceName}#${objectId}.${spec.name}(${parts.join(', ')})`;
}

/** Fallback rendering of a value whose type does not match its arg (a buggy caller). */
function show(v: ArgValue | undefined): string {
  if (v instanceof Uint8Array) return `array[${v.length}]`;
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * A 24.8 value as libwayland prints it: integer part, '.', then the fraction in exactly
 * 8 digits (k/256 = k × 390625 / 10^8, so 8 digits are exact). Values that are not a
 * multiple of 1/256 are first rounded as the encoder would.
 */
function formatFixed(value: number): string {
  const raw = Math.round(value * 256);
  if (!Number.isFinite(raw)) return String(value);
  const abs = Math.abs(raw);
  const frac = String((abs % 256) * 390625).padStart(8, '0');
  return `${raw < 0 ? '-' : ''}${Math.floor(abs / 256)}.${frac}`;
}
