// Reading a recorded lifecycle trace: the header and every event validated against the
// schema, with errors that name the line and the field.

import { readFileSync } from 'node:fs';
import {
  type LifecycleEvent,
  type LifecycleHeader,
  lifecycleEventSchema,
  lifecycleHeaderSchema,
} from './events.js';

export class TraceFileError extends Error {
  readonly code = 'ERR_TRACE_FILE';
  constructor(
    readonly path: string,
    readonly line: number,
    message: string,
  ) {
    super(`${path}:${line}: ${message}`);
    this.name = 'TraceFileError';
  }
}

export interface LifecycleTrace {
  readonly header: LifecycleHeader;
  readonly events: readonly LifecycleEvent[];
}

export function parseLifecycleTrace(text: string, path = '<trace>'): LifecycleTrace {
  const lines = text.split('\n');
  const parse = (i: number): unknown => {
    try {
      return JSON.parse(lines[i]!) as unknown;
    } catch {
      throw new TraceFileError(path, i + 1, 'not a JSON line');
    }
  };
  if (lines.length === 0 || lines[0]!.trim() === '')
    throw new TraceFileError(path, 1, 'empty trace');
  const header = lifecycleHeaderSchema.safeParse(parse(0));
  if (!header.success) throw new TraceFileError(path, 1, describe(header.error));
  const events: LifecycleEvent[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    const event = lifecycleEventSchema.safeParse(parse(i));
    if (!event.success) throw new TraceFileError(path, i + 1, describe(event.error));
    events.push(event.data);
  }
  return { header: header.data, events };
}

export function readLifecycleTrace(path: string): LifecycleTrace {
  return parseLifecycleTrace(readFileSync(path, 'utf8'), path);
}

function describe(error: { issues: readonly { path: PropertyKey[]; message: string }[] }): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? i.path.map(String).join('.') : 'line'}: ${i.message}`)
    .join('; ');
}
