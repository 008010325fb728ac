// The body of one copy thread (copy-threads.ts): copies the spans it is sent from a
// client's pool into a grant extent, through memory the main thread has mapped (the
// joint mapping; threads share the address space) or with pread from an fd the main
// thread keeps open for the job. It runs at a lower priority than the event loop, so a
// burst of big commits never delays another client's messages on a busy machine.

import { parentPort } from 'node:worker_threads';
import { setThreadNice } from '../../ffi/libc.js';
import { type Span, copySpans } from './copy.js';

/** A job, as the main thread posts it (addresses are plain numbers: < 2^47). */
export interface CopyJobMessage {
  readonly id: number;
  readonly spans: readonly Span[];
  readonly target:
    | {
        readonly kind: 'joint';
        readonly ptr: number;
        readonly length: number;
        readonly extentAt: number;
      }
    | { readonly kind: 'pread'; readonly fd: number; readonly extentPtr: number };
}

export type CopyResultMessage =
  | { readonly id: number; readonly copied: number }
  | { readonly id: number; readonly error: string };

/** Below the event loop's 0: the scheduler runs the relay first when both want a CPU. */
const COPY_THREAD_NICE = 10;

function run(job: CopyJobMessage): number {
  const t = job.target;
  if (t.kind === 'joint') {
    return copySpans(job.spans, { kind: 'joint', base: t.ptr, extentAt: t.extentAt }, 0n);
  }
  return copySpans(job.spans, { kind: 'pread', fd: t.fd }, BigInt(t.extentPtr));
}

if (parentPort !== null) {
  const port = parentPort;
  try {
    setThreadNice(COPY_THREAD_NICE);
  } catch {
    // Not allowed here (a seccomp filter, say): copies still run, at the loop's priority.
  }
  port.on('message', (job: CopyJobMessage) => {
    let reply: CopyResultMessage;
    try {
      reply = { id: job.id, copied: run(job) };
    } catch (err) {
      reply = { id: job.id, error: err instanceof Error ? err.message : String(err) };
    }
    port.postMessage(reply);
  });
}
