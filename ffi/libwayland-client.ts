// libwayland-client.so.0 as typed functions: the raw binding behind the harness's
// scripted clients (harness/client/). Nothing here knows a protocol: displays, proxies,
// interface tables and argument arrays are native pointers, and the caller (which
// builds the tables with ./wl-interface.ts) decides what they mean. Koffi stays in
// ffi/; the object layer above calls only these functions.
//
// Threading: libwayland-client calls back (the dispatcher) only from inside the calls
// below that dispatch (roundtrip, dispatch_pending), on the caller's thread.

import koffi from 'koffi';
import type { NativePointer } from './libc.js';

const lib = koffi.load('libwayland-client.so.0');

// int (*wl_dispatcher_func_t)(const void *data, void *target, uint32_t opcode,
//                             const struct wl_message *msg, union wl_argument *args)
// Anonymous on purpose: koffi type names are process-global, and vitest may evaluate
// this module more than once in one process.
const DispatcherFunc = koffi.proto('int', ['void *', 'void *', 'uint32_t', 'void *', 'void *']);

const wl = {
  displayConnect: lib.func('void *wl_display_connect(const char *name)'),
  displayDisconnect: lib.func('void wl_display_disconnect(void *display)'),
  displayGetFd: lib.func('int wl_display_get_fd(void *display)'),
  displayRoundtrip: lib.func('int wl_display_roundtrip(void *display)'),
  displayFlush: lib.func('int wl_display_flush(void *display)'),
  displayDispatchPending: lib.func('int wl_display_dispatch_pending(void *display)'),
  displayPrepareRead: lib.func('int wl_display_prepare_read(void *display)'),
  displayReadEvents: lib.func('int wl_display_read_events(void *display)'),
  displayGetError: lib.func('int wl_display_get_error(void *display)'),
  displayGetProtocolError: lib.func(
    'uint32_t wl_display_get_protocol_error(void *display, _Out_ void **iface, _Out_ uint32_t *id)',
  ),
  proxyMarshalArrayFlags: lib.func(
    'void *wl_proxy_marshal_array_flags(void *proxy, uint32_t opcode, const void *iface, uint32_t version, uint32_t flags, void *args)',
  ),
  proxyDestroy: lib.func('void wl_proxy_destroy(void *proxy)'),
  proxyAddDispatcher: lib.func(
    'int wl_proxy_add_dispatcher(void *proxy, void *func, const void *data, void *user_data)',
  ),
  proxyGetId: lib.func('uint32_t wl_proxy_get_id(void *proxy)'),
  proxyGetVersion: lib.func('uint32_t wl_proxy_get_version(void *proxy)'),
};

/** wl_proxy_marshal_array_flags: the proxy is destroyed with the request. */
export const WL_MARSHAL_FLAG_DESTROY = 1;
export const EAGAIN = koffi.os.errno.EAGAIN ?? 11;
/** sizeof(union wl_argument) on LP64. */
export const WL_ARGUMENT_SIZE = 8;
/** sizeof(struct wl_array) on LP64: { size_t size; size_t alloc; void *data; }. */
export const WL_ARRAY_SIZE = 24;

/** koffi gives NULL pointers as null; 0n is easier to compare and store. */
function ptrOf(value: unknown): NativePointer {
  return typeof value === 'bigint' ? value : 0n;
}

/** errno as libwayland left it (reset it with setErrno(0) before a call to read it after). */
export const errno = (): number => koffi.errno();
export const setErrno = (value: number): void => void koffi.errno(value);

/** wl_display_connect: 0n when it failed (see errno()). */
export function displayConnect(name: string | undefined): NativePointer {
  return ptrOf(wl.displayConnect(name ?? null));
}

export function displayDisconnect(display: NativePointer): void {
  wl.displayDisconnect(display);
}

export function displayGetFd(display: NativePointer): number {
  return wl.displayGetFd(display) as number;
}

/** < 0: the display failed (see displayGetError). */
export function displayRoundtrip(display: NativePointer): number {
  return wl.displayRoundtrip(display) as number;
}

/** < 0 with errno EAGAIN: the socket is full, data is left in libwayland's buffer. */
export function displayFlush(display: NativePointer): number {
  return wl.displayFlush(display) as number;
}

export function displayDispatchPending(display: NativePointer): number {
  return wl.displayDispatchPending(display) as number;
}

/** 0 once a read intent is held; -1 while events wait to be dispatched first. */
export function displayPrepareRead(display: NativePointer): number {
  return wl.displayPrepareRead(display) as number;
}

export function displayReadEvents(display: NativePointer): number {
  return wl.displayReadEvents(display) as number;
}

/** The display's errno once it failed (0 while it has not). */
export function displayGetError(display: NativePointer): number {
  return wl.displayGetError(display) as number;
}

/** The protocol error libwayland kept: the interface table (0n when unknown), object, code. */
export function displayGetProtocolError(display: NativePointer): {
  iface: NativePointer;
  objectId: number;
  code: number;
} {
  const ifaceOut: unknown[] = [null];
  const idOut = [0];
  const code = wl.displayGetProtocolError(display, ifaceOut, idOut) as number;
  return { iface: ptrOf(ifaceOut[0]), objectId: idOut[0] ?? 0, code };
}

/**
 * wl_proxy_marshal_array_flags over a `union wl_argument` array the caller filled; the
 * new proxy when the message creates one (`iface` given), else 0n.
 */
export function proxyMarshalArrayFlags(
  proxy: NativePointer,
  opcode: number,
  iface: NativePointer,
  version: number,
  flags: number,
  args: NativePointer,
): NativePointer {
  return ptrOf(
    wl.proxyMarshalArrayFlags(proxy, opcode, iface === 0n ? null : iface, version, flags, args),
  );
}

export function proxyDestroy(proxy: NativePointer): void {
  wl.proxyDestroy(proxy);
}

/** 0 on success. */
export function proxyAddDispatcher(proxy: NativePointer, dispatcher: NativePointer): number {
  return wl.proxyAddDispatcher(proxy, dispatcher, null, null) as number;
}

export function proxyGetId(proxy: NativePointer): number {
  return wl.proxyGetId(proxy) as number;
}

export function proxyGetVersion(proxy: NativePointer): number {
  return wl.proxyGetVersion(proxy) as number;
}

/**
 * What libwayland calls for every event of a proxy carrying the dispatcher: the proxy's
 * address, the event's opcode, and its `union wl_argument` array. Must not throw (C
 * would get 0 and the error would be lost).
 */
export type EventDispatcher = (proxy: NativePointer, opcode: number, args: NativePointer) => void;

/** Registers a dispatcher callable from C; its address goes to proxyAddDispatcher. */
export function registerDispatcher(dispatch: EventDispatcher): NativePointer {
  const trampoline = (
    _data: unknown,
    target: unknown,
    opcode: number,
    _message: unknown,
    args: unknown,
  ): number => {
    dispatch(ptrOf(target), opcode, ptrOf(args));
    return 0;
  };
  return ptrOf(koffi.register(trampoline, koffi.pointer(DispatcherFunc)));
}

/** Unregisters a dispatcher: only once no live proxy carries it any more. */
export function unregisterDispatcher(address: NativePointer): void {
  koffi.unregister(address);
}

/** The NUL-terminated string at `ptr`. */
export function readCString(ptr: NativePointer): string {
  return koffi.decode.string(ptr);
}

/** The string a `const char *` stored at `ptr` points to (a struct wl_interface's name). */
export function readCStringField(ptr: NativePointer): string {
  return koffi.decode(ptr, 'const char *') as string;
}
