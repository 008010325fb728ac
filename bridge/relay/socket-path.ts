// Where a Wayland socket name lives, by libwayland's rule: a name with a '/' is a path
// used as is, any other name is relative to $XDG_RUNTIME_DIR.

import { isAbsolute, join } from 'node:path';
import { UNIX_PATH_MAX } from '../../ffi/libc.js';
import { SocketPathError } from './errors.js';

export function resolveSocketPath(
  name: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  if (name.length === 0) throw new SocketPathError('empty Wayland socket name');
  let path: string;
  if (isAbsolute(name)) {
    path = name;
  } else {
    const runtimeDir = env.XDG_RUNTIME_DIR;
    if (runtimeDir === undefined || runtimeDir === '') {
      throw new SocketPathError(
        `XDG_RUNTIME_DIR is not set, so the socket name "${name}" cannot be resolved (set it, or give an absolute path)`,
      );
    }
    path = join(runtimeDir, name);
  }
  if (Buffer.byteLength(path) > UNIX_PATH_MAX) {
    throw new SocketPathError(`socket path is longer than ${UNIX_PATH_MAX} bytes: ${path}`);
  }
  return path;
}
