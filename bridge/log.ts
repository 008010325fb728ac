// Structured logs (pino) on stderr, so stdout stays free for a command's own output.
// Humans at a terminal get pino-pretty; pipes and CI get JSON lines.

import { type Level, type Logger, pino } from 'pino';
import pretty from 'pino-pretty';

export type LogLevel = Level | 'silent';

export function createLogger(level: LogLevel = 'info', forcePretty?: boolean): Logger {
  const usePretty = forcePretty ?? process.stderr.isTTY === true;
  if (usePretty) {
    return pino(
      { level, base: undefined },
      pretty({ destination: 2, sync: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }),
    );
  }
  return pino({ level, base: undefined }, pino.destination({ dest: 2, sync: true }));
}

/** For library users and tests that want no output. */
export const silentLogger: Logger = pino({ level: 'silent' });
