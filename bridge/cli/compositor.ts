// `grantway compositor`: the embedded headless compositor alone on a socket, so any real
// client (weston-simple-shm, wayland-info, foot…) can connect to it, with the
// misbehaviour knobs as flags. The socket is --socket, or one passed the systemd way
// (LISTEN_FDS, bridge/service/socket-activation.ts) by a supervisor that made it. Runs
// until SIGINT/SIGTERM. SIGUSR1 writes the output as a PNG into --png-dir; SIGUSR2, or `crash` on the --control socket, kills the process on
// the spot (a crash: no cleanup, the socket file is left stale).

import { join } from 'node:path';
import { z } from 'zod';
import { ControlServer, EmbeddedCompositor } from '../../harness/compositor/index.js';
import { createLogger } from '../log.js';
import { resolveSocketPath } from '../relay/socket-path.js';
import { boundPath } from '../../ffi/libc.js';
import { takePassedWaylandSocket } from '../service/socket-activation.js';
import { logLevels, OptionError, validateOptions } from './options.js';

const socketName = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => !s.includes('\0'), 'must not contain NUL');

/** A flag holding a whole number in [min, max] (flags arrive as strings). */
const intFlag = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

export const compositorOptionsSchema = z.object({
  /** Required unless a socket is passed (LISTEN_FDS); then only its name in logs. */
  socket: socketName.optional(),
  width: intFlag(1, 16384).default(1024),
  height: intFlag(1, 16384).default(768),
  'refresh-hz': intFlag(1, 1000).default(60),
  'release-delay-ms': intFlag(0, 600_000).default(0),
  'hold-buffers': intFlag(0, 64).default(0),
  'keep-pools-mapped-ms': z
    .union([z.literal('until-disconnect'), intFlag(0, 3_600_000)], {
      error: 'must be a number of ms or until-disconnect',
    })
    .default(0),
  'png-dir': z.string().min(1).optional(),
  control: z.string().min(1).optional(),
  'private-global': z.array(z.string().min(1)).default([]),
  'log-level': z.enum(logLevels).default('info'),
});

export type CompositorCliOptions = z.infer<typeof compositorOptionsSchema>;

export async function compositorCommand(flags: Record<string, unknown>): Promise<number> {
  const options = validateOptions(compositorOptionsSchema, flags);
  const listenFd = takePassedWaylandSocket();
  if (listenFd === undefined && options.socket === undefined) {
    throw new OptionError(
      '--socket: is required, unless a listening socket is passed (LISTEN_FDS)',
    );
  }
  const log = createLogger(options['log-level']);
  const pngDir = options['png-dir'];
  const compositor = EmbeddedCompositor.start({
    socketPath:
      options.socket !== undefined ? resolveSocketPath(options.socket) : boundPath(listenFd!),
    listenFd,
    width: options.width,
    height: options.height,
    refreshHz: options['refresh-hz'],
    knobs: {
      releaseDelayMs: options['release-delay-ms'],
      holdBuffers: options['hold-buffers'],
      keepPoolsMappedMs: options['keep-pools-mapped-ms'],
    },
    pngDir,
    privateGlobals: options['private-global'],
    log,
  });
  const crash = (): void => {
    process.kill(process.pid, 'SIGKILL');
  };
  const control =
    options.control === undefined
      ? null
      : await ControlServer.listen(options.control, compositor, { crash });
  let frames = 0;
  const onUsr1 = (): void => {
    if (pngDir === undefined) return;
    const path = join(pngDir, `frame-${++frames}.png`);
    compositor.writePng(path);
    log.info({ path }, 'frame written');
  };
  process.on('SIGUSR1', onUsr1);
  process.once('SIGUSR2', crash);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  process.off('SIGUSR1', onUsr1);
  process.off('SIGUSR2', crash);
  await control?.close();
  compositor.close();
  return 0;
}
