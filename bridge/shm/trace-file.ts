// Reading a recorded lifecycle trace: the header and every event validated against the
// schema, with errors that name the line and the field. Records of version 1 (before
// pools had a key) are upgraded as they are read, so old traces stay usable.

import { readFileSync } from 'node:fs';
import {
  type LifecycleEvent,
  type LifecycleEventV1,
  type LifecycleHeader,
  lifecycleEventSchema,
  lifecycleEventSchemaV1,
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
  const schema = header.data.version === 1 ? lifecycleEventSchemaV1 : lifecycleEventSchema;
  const events: (LifecycleEvent | LifecycleEventV1)[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    const event = schema.safeParse(parse(i));
    if (!event.success) throw new TraceFileError(path, i + 1, describe(event.error));
    events.push(event.data);
  }
  return header.data.version === 1
    ? { header: header.data, events: upgradeV1(events as LifecycleEventV1[]) }
    : { header: header.data, events: events as LifecycleEvent[] };
}

/** What the upgrade knows of one pool of a version 1 record. */
interface V1Pool {
  readonly key: number;
  readonly id: number;
  destroyed: boolean;
  /** The last evidence level and oracle verdict given to it. */
  level: string | undefined;
  verdict: string | undefined;
}

/**
 * Gives every pool of a version 1 record a key, following wire ids as the bridge does:
 * an id names its pool from pool-created until the compositor's delete-acked, and a
 * buffer's events belong to the pool it was made from. Evidence and oracle events name
 * only the id. The tracker emits evidence right after the event that changed it, and
 * both only when a pool's level (or verdict) changes; so an evidence event goes to the
 * pool the previous event was about, if it has that id and the level is a change for
 * it; else (and a verdict always) to the oldest pool with that id, not yet final, for
 * which it is a change (E2, E3 and verdicts only to a destroyed one). Exact for what the
 * tracker writes, unless one id is reused while two of its pools change at once.
 */
function upgradeV1(events: readonly LifecycleEventV1[]): LifecycleEvent[] {
  /**
   * Per client: pools by the id they have now, by buffer made from them, those not yet
   * final (E3 or 'unavailable': nothing more comes for them), and the next key.
   */
  const clients = new Map<
    number,
    { current: Map<number, V1Pool>; byBuffer: Map<number, V1Pool>; open: V1Pool[]; next: number }
  >();
  /** The pool the previous event was about. */
  let last: V1Pool | undefined;
  const out: LifecycleEvent[] = [];
  for (const e of events) {
    let c = clients.get(e.client);
    if (c === undefined) {
      c = { current: new Map(), byBuffer: new Map(), open: [], next: 1 };
      clients.set(e.client, c);
    }
    const about = (pool: V1Pool | undefined): number => {
      last = pool;
      return pool?.key ?? 0;
    };
    switch (e.type) {
      case 'pool-created': {
        const pool: V1Pool = {
          key: c.next++,
          id: e.pool,
          destroyed: false,
          level: undefined,
          verdict: undefined,
        };
        c.current.set(e.pool, pool);
        c.open.push(pool);
        out.push({ ...e, poolKey: about(pool) });
        break;
      }
      case 'pool-resized':
      case 'pool-destroyed': {
        const pool = c.current.get(e.pool);
        if (pool !== undefined && e.type === 'pool-destroyed') pool.destroyed = true;
        out.push({ ...e, poolKey: about(pool) });
        break;
      }
      case 'buffer-created': {
        const pool = c.current.get(e.pool);
        if (pool !== undefined) c.byBuffer.set(e.buffer, pool);
        out.push({ ...e, poolKey: about(pool) });
        break;
      }
      case 'buffer-destroyed':
        out.push({ ...e, poolKey: about(c.byBuffer.get(e.buffer) ?? c.current.get(e.pool)) });
        break;
      case 'buffer-committed':
      case 'buffer-released':
        about(c.byBuffer.get(e.buffer));
        out.push(e);
        break;
      case 'delete-acked': {
        if (e.kind === 'buffer') {
          about(c.byBuffer.get(e.object));
          c.byBuffer.delete(e.object);
          out.push({ ...e, poolKey: undefined });
        } else {
          const pool = c.current.get(e.object);
          c.current.delete(e.object);
          out.push({ ...e, poolKey: about(pool) });
        }
        break;
      }
      case 'evidence':
      case 'oracle': {
        const value = e.type === 'evidence' ? e.level : e.verdict;
        const late = e.type === 'oracle' || e.level === 'E2' || e.level === 'E3';
        const isChange = (p: V1Pool): boolean =>
          p.id === e.pool &&
          (e.type === 'evidence' ? p.level !== value : p.verdict !== value) &&
          (!late || p.destroyed);
        // Evidence follows the event that changed it; an oracle verdict comes from a
        // timer, looking at pools in the order they were let go.
        const follows = e.type === 'evidence' && last !== undefined && isChange(last);
        const pool = (follows ? last : undefined) ?? c.open.find(isChange) ?? c.current.get(e.pool);
        if (pool !== undefined) {
          if (e.type === 'evidence') pool.level = value;
          else pool.verdict = value;
          if ((value === 'E3' || value === 'unavailable') && c.open.includes(pool)) {
            c.open.splice(c.open.indexOf(pool), 1);
          }
        }
        out.push({ ...e, poolKey: about(pool) });
        break;
      }
      case 'client-gone':
        for (const pool of c.open) pool.destroyed = true;
        last = undefined;
        out.push(e);
        break;
      default:
        out.push(e);
    }
  }
  return out;
}

export function readLifecycleTrace(path: string): LifecycleTrace {
  return parseLifecycleTrace(readFileSync(path, 'utf8'), path);
}

function describe(error: { issues: readonly { path: PropertyKey[]; message: string }[] }): string {
  return error.issues
    .map((i) => `${i.path.length > 0 ? i.path.map(String).join('.') : 'line'}: ${i.message}`)
    .join('; ');
}
