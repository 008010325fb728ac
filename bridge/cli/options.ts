// The CLI's options as zod schemas: one place that says what each flag accepts, so a
// bad value is refused with the flag's name and the allowed values.

import { z } from 'zod';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const socketName = z
  .string()
  .min(1, 'must not be empty')
  .refine((s) => !s.includes('\0'), 'must not contain NUL');

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
