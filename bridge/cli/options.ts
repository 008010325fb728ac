// The CLI's options as zod schemas: one place that says what each flag accepts, so a
// bad value is refused with the flag's name and the allowed values.

import { z } from 'zod';
import { clientLimitFields } from '../relay/limits.js';
import type { FlagKind } from './config-file.js';
import { proxyLimitFields } from '../relay/proxy-limits.js';

/** Every flag of every command, as node:util parseArgs reads them. */
export const FLAG_SPEC = {
  listen: { type: 'string' },
  upstream: { type: 'string' },
  trace: { type: 'boolean' },
  'log-level': { type: 'string' },
  'protocol-dir': { type: 'string', multiple: true },
  record: { type: 'string' },
  json: { type: 'boolean' },
  mode: { type: 'string' },
  backend: { type: 'string' },
  domid: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  policy: { type: 'string' },
  'policy-opt': { type: 'string', multiple: true },
  'whole-extents': { type: 'boolean' },
  'max-pool-size': { type: 'string' },
  'max-shm-total': { type: 'string' },
  'max-shm-declared': { type: 'string' },
  'max-objects': { type: 'string' },
  'max-fds': { type: 'string' },
  'max-buffered': { type: 'string' },
  'stall-timeout-ms': { type: 'string' },
  html: { type: 'string' },
  config: { type: 'string' },
  'max-clients': { type: 'string' },
  'max-clients-per-uid': { type: 'string' },
  'max-shm-total-all': { type: 'string' },
  metrics: { type: 'string' },
  'interval-ms': { type: 'string' },
  // demo
  frames: { type: 'string' },
  png: { type: 'string' },
  // compositor
  socket: { type: 'string' },
  width: { type: 'string' },
  height: { type: 'string' },
  'refresh-hz': { type: 'string' },
  'release-delay-ms': { type: 'string' },
  'hold-buffers': { type: 'string' },
  'keep-pools-mapped-ms': { type: 'string' },
  'png-dir': { type: 'string' },
  control: { type: 'string' },
  'private-global': { type: 'string', multiple: true },
} as const;

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

/** Limits across the proxy (bridge/relay/proxy-limits.ts); unset: the machine's default. */
const proxyLimitFlags = {
  'max-clients': z.coerce.number().pipe(proxyLimitFields.maxClients).optional(),
  'max-clients-per-uid': z.coerce.number().pipe(proxyLimitFields.maxClientsPerUid).optional(),
  'max-shm-total-all': byteCount.pipe(proxyLimitFields.maxShmTotalAll).optional(),
};

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Where --metrics serves: a unix socket path (with a '/') or a loopback HOST:PORT. What
 * the metrics tell (every client's pid and traffic) is for the machine's own operator.
 */
export const metricsAddress = z
  .string()
  .min(1, 'must not be empty')
  .transform((s, ctx) => {
    if (s.includes('/')) return { kind: 'unix' as const, path: s };
    const m = /^(.*):(\d{1,5})$/.exec(s);
    const port = m === null ? NaN : Number(m[2]);
    if (m === null || port > 65535 || !LOOPBACK.has(m[1]!)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'must be a unix socket path (with a /) or a loopback address 127.0.0.1:PORT, localhost:PORT or [::1]:PORT',
      });
      return z.NEVER;
    }
    const host = m[1] === '[::1]' ? '::1' : m[1]!;
    return { kind: 'tcp' as const, host, port };
  });
export type MetricsAddress = z.infer<typeof metricsAddress>;

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
  // Grant pools whole rather than the pages buffers cover: what a policy that reuses
  // extents (recycle) needs, since sparse extents are never cached.
  'whole-extents': z.boolean().default(false),
  ...limitFlags,
  ...proxyLimitFlags,
  metrics: metricsAddress.optional(),
  control: z.string().min(1, 'must name a socket path').optional(),
});

/** gntalloc grants pages to one domain, which must be named. */
const needsDomid = (o: { backend: string; domid?: number }): boolean =>
  o.backend !== 'gntalloc' || o.domid !== undefined;
const domidIssue = {
  message: 'is required with --backend gntalloc (the domain to grant pages to)',
  path: ['domid'],
};

/** --listen may be left out when a socket is passed the systemd way (LISTEN_FDS). */
export const proxyOptionsSchema = commonOptionsSchema
  .extend({ listen: socketName.optional(), upstream: socketName })
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
  Partial<Pick<ProxyOptions, 'policy' | 'policy-opt' | 'whole-extents'>>;
export type RunOptions = z.infer<typeof runOptionsSchema>;
export type LimitFlags = Pick<ProxyOptions, keyof typeof limitFlags | keyof typeof proxyLimitFlags>;

export const statusOptionsSchema = z.object({
  listen: socketName.optional(),
  control: z.string().min(1, 'must name a socket path').optional(),
  json: z.boolean().default(false),
  'interval-ms': z.coerce.number().int().min(100).max(3_600_000).default(1000),
});
export type StatusOptions = z.infer<typeof statusOptionsSchema>;

/** A flag that was given a value outside what its schema allows. */
export class OptionError extends Error {
  readonly code = 'ERR_OPTION';
  constructor(message: string) {
    super(message);
    this.name = 'OptionError';
  }
}

/**
 * Validates parsed flags; the error names each offending flag and what it accepts.
 * `origin` names where a key's value came from (default: the flag, --key).
 */
export function validateOptions<T extends z.ZodType>(
  schema: T,
  raw: unknown,
  origin: (key: string) => string = (key) => `--${key}`,
): z.infer<T> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const flag = issue.path.length > 0 ? origin(issue.path.map(String).join('.')) : 'options';
    if (issue.code === 'invalid_value') {
      return `${flag}: must be one of ${issue.values.map(String).join(', ')}`;
    }
    if (issue.code === 'invalid_type' && issue.input === undefined) return `${flag}: is required`;
    return `${flag}: ${issue.message}`;
  });
  throw new OptionError(lines.join('\n'));
}

/**
 * A command's options from its flags and, with --config FILE, the file's settings under
 * them (config-file.ts, loaded only then); errors name the flag, or the file and the key.
 */
export async function validateCommandOptions<T extends z.ZodObject>(
  schema: T,
  flags: Readonly<Record<string, unknown>>,
): Promise<z.infer<T>> {
  const { config, ...commandLine } = flags;
  if (typeof config !== 'string') return validateOptions(schema, commandLine);
  const { mergeFlags, readConfigFile } = await import('./config-file.js');
  const kinds: Record<string, FlagKind> = {};
  for (const key of Object.keys(schema.shape)) {
    const kind = (FLAG_SPEC as Readonly<Record<string, FlagKind>>)[key];
    if (kind !== undefined) kinds[key] = kind;
  }
  const file = readConfigFile(config, kinds);
  const { values, origin } = mergeFlags(config, file, commandLine);
  return validateOptions(schema, values, origin);
}
