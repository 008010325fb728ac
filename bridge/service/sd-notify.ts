// sd_notify(3) without libsystemd: a service manager that set NOTIFY_SOCKET (systemd
// with Type=notify, or any supervisor speaking the protocol) is told that the service is
// ready (READY=1, once it accepts clients), what it is doing (STATUS=…), and that it is
// stopping (STOPPING=1). Each message is one datagram of KEY=VALUE lines to that socket
// (a path, or '@name' in the abstract namespace). Without NOTIFY_SOCKET every call does
// nothing. Telling the manager is never worth failing the service for: a send that fails
// is logged once and the rest are dropped.

import type { Logger } from 'pino';
import { errorReason } from '../../ffi/errors.js';
import { sendDatagram } from '../../ffi/unix-datagram.js';

export interface ServiceNotifier {
  /** Whether a manager listens (NOTIFY_SOCKET was set). */
  readonly enabled: boolean;
  /** READY=1 with a status line. */
  ready(status: string): void;
  /** STATUS=… */
  status(status: string): void;
  /** STOPPING=1 with a status line. */
  stopping(status: string): void;
}

/**
 * The notifier for this process. NOTIFY_SOCKET is taken out of `env` (sd_notify's
 * unset_environment): a child this process starts must not speak for it.
 */
export function serviceNotifier(
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): ServiceNotifier {
  const socket = env.NOTIFY_SOCKET;
  delete env.NOTIFY_SOCKET;
  let broken = socket === undefined || socket === '';
  const send = (lines: string[]): void => {
    if (broken) return;
    try {
      sendDatagram(socket!, Buffer.from(`${lines.join('\n')}\n`, 'utf8'));
    } catch (err) {
      broken = true;
      log.warn(
        { notifySocket: socket, reason: errorReason(err) },
        'cannot notify the service manager; giving up telling it',
      );
    }
  };
  const line = (status: string): string => `STATUS=${status.replace(/\n/g, ' ')}`;
  return {
    enabled: !broken,
    ready: (status) => send(['READY=1', line(status)]),
    status: (status) => send([line(status)]),
    stopping: (status) => send(['STOPPING=1', line(status)]),
  };
}
