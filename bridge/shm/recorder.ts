// `--record FILE`: the lifecycle trace as JSON lines — a header line, then one event
// per line, each checked against the schema as it is written, so a trace on disk is
// always one that `grantway report` and the policy replayer accept.
//
// Recording is a side job: it must never take the bridge down. A file that cannot be
// opened or take its header is the operator's error at start (RecordFileError, one line
// on the command line). A write that fails later (a full disk, an I/O error) is logged
// once; the file is cut back to its last whole line, recording stops, and the events
// from then on are counted as dropped while the bridge goes on serving.

import {
  closeSync,
  constants,
  ftruncateSync,
  lstatSync,
  openSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import type { Logger } from 'pino';
import { errorReason } from '../../ffi/errors.js';
import {
  LIFECYCLE_FORMAT,
  LIFECYCLE_VERSION,
  type LifecycleEvent,
  type LifecycleHeader,
  lifecycleEventSchema,
} from './events.js';

/** Lines are collected and written in chunks of about this many bytes. */
const CHUNK = 64 * 1024;

/** The record file cannot be created or written at start. */
export class RecordFileError extends Error {
  readonly code = 'ERR_RECORD_FILE';
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`--record ${path}: ${reason}`);
    this.name = 'RecordFileError';
  }
}

export class LifecycleRecorder {
  private fd: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private closed = false;
  /** Bytes on disk, all whole lines: where the file is cut back to if a write fails. */
  private written = 0;
  /** Set once a write failed: nothing more is written. */
  private failed = false;
  /** Whether this recorder made the file (and may remove it on discard). */
  private readonly created: boolean;
  events = 0;
  /** Events not recorded because writing had failed. */
  dropped = 0;

  constructor(
    readonly path: string,
    header: Omit<LifecycleHeader, 'format' | 'version'>,
    private readonly log?: Logger,
  ) {
    this.created = !exists(path);
    try {
      this.fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o644);
    } catch (err) {
      throw new RecordFileError(path, `cannot open for writing (${errorReason(err)})`);
    }
    const full: LifecycleHeader = {
      format: LIFECYCLE_FORMAT,
      version: LIFECYCLE_VERSION,
      ...header,
    };
    try {
      this.write(`${JSON.stringify(full)}\n`);
    } catch (err) {
      this.discard();
      throw new RecordFileError(path, `cannot write (${errorReason(err)})`);
    }
  }

  /** A LifecycleSink. */
  readonly record = (event: LifecycleEvent): void => {
    if (this.closed) return;
    if (this.failed) {
      this.dropped++;
      return;
    }
    const line = `${JSON.stringify(lifecycleEventSchema.parse(event))}\n`;
    this.pending.push(line);
    this.pendingBytes += line.length;
    this.events++;
    if (this.pendingBytes >= CHUNK) this.flush();
  };

  /** Writes what is pending; on failure stops recording (see the top of this file). */
  flush(): void {
    if (this.pending.length === 0 || this.failed) return;
    const lines = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    try {
      this.write(lines.join(''));
    } catch (err) {
      this.failed = true;
      this.dropped += lines.length;
      this.events -= lines.length;
      // A cut line would make the whole trace unreadable; whole lines stay.
      try {
        ftruncateSync(this.fd, this.written);
      } catch {
        // the file keeps a partial last line; report names the line
      }
      this.log?.error(
        { path: this.path, reason: errorReason(err), recorded: this.events },
        'recording stopped: the lifecycle trace cannot be written; the bridge goes on without it',
      );
    }
  }

  /** Writes all of `text` or throws; `written` counts only what a whole write put down. */
  private write(text: string): void {
    const bytes = Buffer.from(text);
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    this.written += bytes.length;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    closeSync(this.fd);
    if (this.dropped > 0) {
      this.log?.warn(
        { path: this.path, recorded: this.events, dropped: this.dropped },
        'lifecycle trace incomplete: events dropped after a write failed',
      );
    }
  }

  /** Closes without writing more, and removes the file if this recorder made it. */
  discard(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    closeSync(this.fd);
    this.fd = -1;
    if (this.created) {
      try {
        unlinkSync(this.path);
      } catch {
        // gone already
      }
    }
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
