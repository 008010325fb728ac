// The `union wl_argument` arrays libwayland-client marshals requests from and dispatches
// events with, read and written through the bridge's views of native memory. Requests:
// checks on the values a test passes, and native copies of strings and arrays for one
// call. Events: every slot decoded to a JS value, objects resolved by the caller.

import { type NativePointer, nativeView } from '../../ffi/libc.js';
import { readCString, WL_ARGUMENT_SIZE, WL_ARRAY_SIZE } from '../../ffi/libwayland-client.js';
import { allocBlock, type ArgSlot } from '../../ffi/wl-interface.js';

export const isInt32 = (value: unknown): value is number =>
  typeof value === 'number' &&
  Number.isInteger(value) &&
  value >= -0x8000_0000 &&
  value <= 0x7fff_ffff;

export const isUint32 = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff;

const utf8 = new TextEncoder();

/** A NUL-terminated native copy, recorded in `temporaries` for the caller to free. */
export function nativeString(value: string, temporaries: NativePointer[]): NativePointer {
  const bytes = utf8.encode(value);
  const ptr = allocBlock(bytes.length + 1);
  temporaries.push(ptr);
  const view = nativeView(ptr, bytes.length + 1);
  view.set(bytes);
  view[bytes.length] = 0;
  return ptr;
}

/** A native struct wl_array with its data right after it, recorded in `temporaries`. */
export function nativeArray(value: Uint8Array, temporaries: NativePointer[]): NativePointer {
  const ptr = allocBlock(WL_ARRAY_SIZE + Math.max(value.length, 1));
  temporaries.push(ptr);
  const view = nativeView(ptr, WL_ARRAY_SIZE + value.length);
  const dv = new DataView(view.buffer, view.byteOffset, WL_ARRAY_SIZE);
  dv.setBigUint64(0, BigInt(value.length), true);
  dv.setBigUint64(8, BigInt(value.length), true);
  dv.setBigUint64(16, ptr + BigInt(WL_ARRAY_SIZE), true);
  view.set(value, WL_ARRAY_SIZE);
  return ptr;
}

/** How an event's object arguments become the caller's objects. */
export interface ObjectResolver<P> {
  /** An existing object by its wl_proxy address (null: unknown, destroyed here). */
  existing(address: NativePointer): P | null;
  /** A new_id: libwayland made the wl_proxy; `interfaceName` says what it is. */
  created(address: NativePointer, interfaceName: string): P;
}

/**
 * An event's arguments: int/uint/fixed → number, string → string or null, object →
 * resolved (or null), new_id → created, array → a copy, fd → the number (also listed in
 * `fds`: whoever takes the event owns them).
 */
export function readEventArgs<P>(
  slots: readonly ArgSlot[],
  argsAddress: NativePointer,
  objects: ObjectResolver<P>,
): { args: (number | string | null | P | Uint8Array)[]; fds: number[] } {
  const args: (number | string | null | P | Uint8Array)[] = [];
  const fds: number[] = [];
  if (slots.length === 0) return { args, fds };
  const bytes = nativeView(argsAddress, slots.length * WL_ARGUMENT_SIZE);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let untypedName: string | null = null;
  slots.forEach((slot, index) => {
    const at = index * WL_ARGUMENT_SIZE;
    switch (slot.code) {
      case 'i':
        args.push(view.getInt32(at, true));
        return;
      case 'u':
        args.push(view.getUint32(at, true));
        return;
      case 'f':
        args.push(view.getInt32(at, true) / 256);
        return;
      case 'h': {
        const fd = view.getInt32(at, true);
        fds.push(fd);
        args.push(fd);
        return;
      }
      case 's': {
        const ptr = view.getBigUint64(at, true);
        const value = ptr === 0n ? null : readCString(ptr);
        if (slot.part === 'interface-name') untypedName = value;
        args.push(value);
        return;
      }
      case 'a': {
        const ptr = view.getBigUint64(at, true);
        if (ptr === 0n) {
          args.push(null);
          return;
        }
        const header = nativeView(ptr, WL_ARRAY_SIZE);
        const hv = new DataView(header.buffer, header.byteOffset, header.byteLength);
        const size = Number(hv.getBigUint64(0, true));
        const data = hv.getBigUint64(16, true);
        args.push(size === 0 ? new Uint8Array(0) : nativeView(data, size).slice());
        return;
      }
      case 'o': {
        const ptr = view.getBigUint64(at, true);
        args.push(ptr === 0n ? null : objects.existing(ptr));
        return;
      }
      case 'n': {
        // libwayland already made the proxy and put its address in the slot.
        const ptr = view.getBigUint64(at, true);
        args.push(
          ptr === 0n ? null : objects.created(ptr, slot.arg.interface ?? untypedName ?? '?'),
        );
        return;
      }
    }
  });
  return { args, fds };
}
