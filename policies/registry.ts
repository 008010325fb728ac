// Policies by name, with their options as zod schemas: the CLI's `--policy NAME
// --policy-opt key=value…` and the bench both build policies here, so an option is
// validated in one place and a mistake is refused with the policy, the option, and
// what it accepts.

import { z } from 'zod';
import { evidenceLevels } from '../bridge/shm/index.js';
import { PolicyOptionError, UnknownPolicyError } from './errors.js';
import { EVIDENCE_DEFAULTS, evidencePolicy } from './builtin/evidence.js';
import {
  LINUX_DEFERRED_DEFAULTS,
  QUBES_FREE_PER_ITERATION,
  linuxDeferredPolicy,
} from './builtin/linux-deferred.js';
import { RECYCLE_DEFAULTS, recycleInterceptor } from './builtin/recycle.js';
import { WATERMARK_DEFAULTS, watermarkPolicy } from './builtin/watermark.js';
import { type ReclaimPolicy, composePolicy } from './types.js';

const count = z.coerce.number().int().min(0);
const positiveMs = z.coerce.number().positive().finite();

const linuxDeferredSchema = (freePerIteration: number) =>
  z
    .object({
      freePerIteration: count.default(freePerIteration),
      periodMs: positiveMs.default(LINUX_DEFERRED_DEFAULTS.periodMs),
    })
    .strict();

const evidenceSchema = z
  .object({
    level: z.enum(evidenceLevels.filter((l) => l !== 'E0') as ['E1', 'E2', 'E3']).default('E3'),
    backoffStartMs: positiveMs.default(EVIDENCE_DEFAULTS.backoffStartMs),
    backoffFactor: z.coerce.number().min(1).finite().default(EVIDENCE_DEFAULTS.backoffFactor),
    backoffMaxMs: positiveMs.default(EVIDENCE_DEFAULTS.backoffMaxMs),
    unavailable: z.enum(['E2', 'wait']).default(EVIDENCE_DEFAULTS.unavailable),
  })
  .strict()
  .refine((o) => o.backoffMaxMs >= o.backoffStartMs, {
    message: 'must be ≥ backoffStartMs',
    path: ['backoffMaxMs'],
  });

const watermarkSchema = z
  .object({
    high: count.default(WATERMARK_DEFAULTS.high),
    low: count.default(WATERMARK_DEFAULTS.low),
    maxHoldMs: positiveMs.default(WATERMARK_DEFAULTS.maxHoldMs),
    recheckMs: positiveMs.default(WATERMARK_DEFAULTS.recheckMs),
  })
  .strict()
  .refine((o) => o.low <= o.high, { message: 'must be ≤ high', path: ['low'] });

const recycleOptionsSchema = z
  .object({
    maxCachedRefs: count.default(RECYCLE_DEFAULTS.maxCachedRefs),
    maxCacheMs: positiveMs.default(RECYCLE_DEFAULTS.maxCacheMs),
  })
  .strict();

interface PolicyEntry {
  /** One line for `--help` and error messages. */
  readonly summary: string;
  readonly schema: z.ZodType<object>;
  readonly create: (options: never) => ReclaimPolicy;
}

function entry<S extends z.ZodType<object>>(
  summary: string,
  schema: S,
  create: (options: z.output<S>) => ReclaimPolicy,
): PolicyEntry {
  return { summary, schema, create: create };
}

/** The built-in policies, by the name `--policy` takes. */
export const POLICIES = {
  'linux-deferred': entry(
    "the kernel's deferred list: try at once, retry freePerIteration refs every periodMs",
    linuxDeferredSchema(LINUX_DEFERRED_DEFAULTS.freePerIteration),
    (o) => linuxDeferredPolicy(o, name('linux-deferred', o, LINUX_DEFERRED_DEFAULTS)),
  ),
  qubes: entry(
    'linux-deferred with freePerIteration=10000, as Qubes configures it',
    linuxDeferredSchema(QUBES_FREE_PER_ITERATION),
    (o) =>
      linuxDeferredPolicy(
        o,
        name('qubes', o, {
          ...LINUX_DEFERRED_DEFAULTS,
          freePerIteration: QUBES_FREE_PER_ITERATION,
        }),
      ),
  ),
  evidence: entry(
    'end access only at the configured evidence level (default E3), oracle on a backoff',
    evidenceSchema,
    (o) =>
      evidencePolicy(o, name(`evidence-${o.level}`, o, { ...EVIDENCE_DEFAULTS, level: o.level })),
  ),
  watermark: entry(
    'hold retired grants; reclaim unmapped ones in batches above a watermark or after maxHoldMs',
    watermarkSchema,
    (o) => watermarkPolicy(o, name('watermark', o, WATERMARK_DEFAULTS)),
  ),
  recycle: entry(
    'reuse unmapped extents for new pools of the same size (over evidence at E3)',
    recycleOptionsSchema,
    (o) => ({
      ...composePolicy(evidencePolicy(EVIDENCE_DEFAULTS), recycleInterceptor(o)),
      name: name('recycle', o, RECYCLE_DEFAULTS),
    }),
  ),
} as const satisfies Record<string, PolicyEntry>;

export type PolicyName = keyof typeof POLICIES;
export const POLICY_NAMES = Object.keys(POLICIES) as PolicyName[];
/** The live bridge's policy when `--policy` is not given. */
export const DEFAULT_POLICY: PolicyName = 'evidence';

export function isPolicyName(name: string): name is PolicyName {
  return Object.hasOwn(POLICIES, name);
}

/** `name` plus the options that differ from the defaults, e.g. `linux-deferred(periodMs=500)`. */
function name(base: string, options: object, defaults: object): string {
  const changed = Object.entries(options).filter(
    ([k, v]) => (defaults as Record<string, unknown>)[k] !== v,
  );
  return changed.length === 0
    ? base
    : `${base}(${changed.map(([k, v]) => `${k}=${String(v)}`).join(',')})`;
}

/** `['level=E3', 'backoffMaxMs=4']` → `{ level: 'E3', backoffMaxMs: '4' }`. */
export function parsePolicyOptions(
  policy: string,
  pairs: readonly string[],
): Record<string, string> {
  const options: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new PolicyOptionError(
        policy,
        '',
        `--policy-opt ${JSON.stringify(pair)}: expected KEY=VALUE`,
      );
    }
    const key = pair.slice(0, eq);
    if (Object.hasOwn(options, key)) {
      throw new PolicyOptionError(policy, key, 'given more than once');
    }
    options[key] = pair.slice(eq + 1);
  }
  return options;
}

/**
 * Builds a policy by name from string options (as `--policy-opt` gives them). Throws
 * UnknownPolicyError or PolicyOptionError naming the option and what it accepts.
 */
export function createPolicy(
  policy: string,
  options: Readonly<Record<string, string>> | readonly string[] = {},
): ReclaimPolicy {
  if (!isPolicyName(policy)) throw new UnknownPolicyError(policy, POLICY_NAMES);
  const raw = Array.isArray(options)
    ? parsePolicyOptions(policy, options as readonly string[])
    : (options as Readonly<Record<string, string>>);
  const e: PolicyEntry = POLICIES[policy];
  const parsed = e.schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PolicyOptionError(policy, optionOf(issue), describeIssue(issue, e.schema));
  }
  return e.create(parsed.data as never);
}

/** The options a policy accepts (for messages and `--help`). */
export function policyOptionNames(policy: PolicyName): string[] {
  const shape = shapeOf(POLICIES[policy].schema);
  return shape === undefined ? [] : Object.keys(shape);
}

function shapeOf(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  return schema instanceof z.ZodObject ? schema.shape : undefined;
}

function optionOf(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return issue.keys[0] ?? '';
  return issue.path.map(String).join('.');
}

function describeIssue(issue: z.core.$ZodIssue, schema: z.ZodType): string {
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = Object.keys(shapeOf(schema) ?? {});
      return `unknown option (options: ${known.join(', ')})`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_type':
      return `must be a ${issue.expected}`;
    case 'too_small':
      return `must be ${issue.inclusive === false ? '>' : '≥'} ${String(issue.minimum)}`;
    case 'too_big':
      return `must be ${issue.inclusive === false ? '<' : '≤'} ${String(issue.maximum)}`;
    default:
      return issue.message;
  }
}
