// The bridge's stderr during a soak run (pino JSON lines), counted: warnings, errors,
// protocol errors, and each distinct message, so the verdict can say what it complained
// about without keeping the whole log.

import type { BridgeLog } from './types.js';

/** The bridge's stderr (pino JSON lines): counts of what it complained about. */
export class BridgeLogBook {
  warnings = 0;
  errors = 0;
  protocolErrors = 0;
  readonly messages: Record<string, number> = {};
  #partial = '';
  tail = '';

  feed(chunk: string): void {
    this.tail = (this.tail + chunk).slice(-8192);
    const lines = (this.#partial + chunk).split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) this.#line(line);
  }

  #line(line: string): void {
    if (line.trim() === '') return;
    let level = 50;
    let msg = line;
    try {
      const parsed = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if (typeof parsed.level === 'number') level = parsed.level;
      if (typeof parsed.msg === 'string') msg = parsed.msg;
    } catch {
      // not pino: a stack trace or the like, counted as an error
    }
    if (level < 40) return;
    if (level >= 50) this.errors++;
    else this.warnings++;
    if (/protocol error/.test(msg)) this.protocolErrors++;
    const key = msg.slice(0, 120);
    this.messages[key] = (this.messages[key] ?? 0) + 1;
  }

  summary(): BridgeLog {
    return {
      warnings: this.warnings,
      errors: this.errors,
      protocolErrors: this.protocolErrors,
      messages: { ...this.messages },
    };
  }
}
