// `--record FILE`: the lifecycle trace as JSON lines — a header line, then one event
// per line, each checked against the schema as it is written, so a trace on disk is
// always one that `grantway report` and the policy replayer accept.

import { closeSync, openSync, writeSync } from 'node:fs';
import {
  LIFECYCLE_FORMAT,
  LIFECYCLE_VERSION,
  type LifecycleEvent,
  type LifecycleHeader,
  lifecycleEventSchema,
} from './events.js';

/** Lines are collected and written in chunks of about this many bytes. */
const CHUNK = 64 * 1024;

export class LifecycleRecorder {
  private readonly fd: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  private closed = false;
  events = 0;

  constructor(path: string, header: Omit<LifecycleHeader, 'format' | 'version'>) {
    this.fd = openSync(path, 'w', 0o644);
    const full: LifecycleHeader = {
      format: LIFECYCLE_FORMAT,
      version: LIFECYCLE_VERSION,
      ...header,
    };
    writeSync(this.fd, `${JSON.stringify(full)}\n`);
  }

  /** A LifecycleSink. */
  readonly record = (event: LifecycleEvent): void => {
    if (this.closed) return;
    const line = `${JSON.stringify(lifecycleEventSchema.parse(event))}\n`;
    this.pending.push(line);
    this.pendingBytes += line.length;
    this.events++;
    if (this.pendingBytes >= CHUNK) this.flush();
  };

  flush(): void {
    if (this.pending.length === 0) return;
    writeSync(this.fd, this.pending.join(''));
    this.pending = [];
    this.pendingBytes = 0;
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    closeSync(this.fd);
  }
}
