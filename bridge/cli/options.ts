// The CLI's options as zod schemas: one place that says what each flag accepts, so a
// bad value is refused with the flag's name and the allowed values.

import { z } from 'zod';
import { clientLimitFields } from '../relay/limits.js';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const socketName = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => !s.includes('\0'), 'must not contain NUL');

const UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** A byte count: 268435456, 64K, 256M or 1G (binary units; KiB, MiB, GiB also read). */
const byteCount = z
  .string()
  .regex(/^\d+(\s*[kmg](i?b)?)?$/i, 'must be a byte count like 268435456, 64K, 256M or 1G')
  .transform((s) => {
    const unit = /[kmg]/i.exec(s)?.[0].toLowerCase() ?? '';
    return Number.parseInt(s, 10) * UNITS[unit]!;
  });

/** Per-client limits (bridge/relay/limits.ts): the ranges are the bridge's own. */
const limitFlags = {
  'max-pool-size': byteCount.pipe(clientLimitFields.maxPoolSize.unwrap()).optional(),
  'max-shm-total': byteCount.pipe(clientLimitFields.maxShmTotal.unwrap()).optional(),
  'max-shm-declared': byteCount.pipe(clientLimitFields.maxShmDeclared.unwrap()).optional(),
  'max-objects': z.coerce.number().pipe(clientLimitFields.maxObjects.unwrap()).optional(),
  'max-fds': z.coerce.number().pipe(clientLimitFields.maxFds.unwrap()).optional(),
  'max-buffered': byteCount.pipe(clientLimitFields.maxBufferedBytes.unwrap()).optional(),
  'stall-timeout-ms': z.coerce.number().pipe(clientLimitFields.stallTimeoutMs.unwrap()).optional(),
};

export const commonOptionsSchema = z.object({
  trace: z.boolean().default(false),
  'log-level': z.enum(logLevels).default('info'),
  'protocol-dir': z.array(z.string().min(1)).default([]),
  record: z.string().min(1, 'must name a file').optional(),
  mode: z.enum(['grant', 'passthrough']).default('grant'),
  // sim is a model with no pages to give a compositor: it serves replays, not bridging.
  backend: z.enum(['memfd', 'gntalloc']).default('memfd'),
  domid: z.coerce.number().int().min(0).max(0x7fef).optional(),
  // Reclaim policy (policies/registry.ts validates the name and each KEY=VALUE).
  policy: z.string().min(1, 'must name a policy').optional(),
  'policy-opt': z.array(z.string()).default([]),
  ...limitFlags,
});

/** gntalloc grants pages to one domain, which must be named. */
const needsDomid = (o: { backend: string; domid?: number }): boolean =>
  o.backend !== 'gntalloc' || o.domid !== undefined;
const domidIssue = {
  message: 'is required with --backend gntalloc (the domain to grant pages to)',
  path: ['domid'],
};

export const proxyOptionsSchema = commonOptionsSchema
  .extend({ listen: socketName, upstream: socketName })
  .refine(needsDomid, domidIssue);

export const runOptionsSchema = commonOptionsSchema
  .extend({ upstream: socketName.optional(), listen: socketName.optional() })
  .refine(needsDomid, domidIssue);

export const reportOptionsSchema = z.object({ json: z.boolean().default(false) });

export const benchOptionsSchema = z.object({
  json: z.boolean().default(false),
  html: z.string().min(1, 'must name a file').optional(),
});

export type ProxyOptions = z.infer<typeof proxyOptionsSchema>;
export type BridgeModeOptions = Pick<ProxyOptions, 'mode' | 'backend' | 'domid' | 'record'> &
  Partial<Pick<ProxyOptions, 'policy' | 'policy-opt'>>;
export type RunOptions = z.infer<typeof runOptionsSchema>;
export type LimitFlags = Pick<ProxyOptions, keyof typeof limitFlags>;

/** A flag that was given a value outside what its schema allows. */
export class OptionError extends Error {
  readonly code = 'ERR_OPTION';
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

/** Validates parsed flags; the error names each offending flag and what it accepts. */
export function validateOptions<T extends z.ZodType>(schema: T, raw: unknown): z.infer<T> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const flag = issue.path.length > 0 ? `--${issue.path.join('.')}` : 'options';
    if (issue.code === 'invalid_value') {
      return `${flag}: must be one of ${issue.values.map(String).join(', ')}`;
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) return `${flag}: is required`;
    return `${flag}: ${issue.message}`;
  });
  throw new OptionError(lines.join('\n'));
}
