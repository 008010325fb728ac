// `--config FILE`: a command's flags written down once, for a service that starts the
// same way every time. TOML (parsed with smol-toml) or JSON, chosen by the extension;
// every key is a flag's name without the dashes, every value what the flag takes:
//
//   upstream = "wayland-0"          # --upstream wayland-0
//   max-clients = 64                # numbers may be written as numbers…
//   max-shm-total-all = "2G"        # …or as the flag's own text
//   protocol-dir = ["/usr/share/wayland-protocols"]   # a repeatable flag: a list
//   trace = true
//
// Flags given on the command line override the file's. The file's values go through the
// same zod schemas as the flags; an error names the file and the key (validateOptions
// says where each value came from), and a key that is not a flag of the command is an
// error too, so a typo cannot silently leave a limit at its default.

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseToml } from 'smol-toml';

/** How a flag is written on the command line (node:util parseArgs' spec). */
export interface FlagKind {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
}

/** The config file cannot be read, parsed, or holds a key or value no flag takes. */
export class ConfigFileError extends Error {
  readonly code = 'ERR_CONFIG_FILE';
  override readonly name = 'ConfigFileError';
}

export type FlagValues = Record<string, string | boolean | string[]>;

/**
 * The file's values as parseArgs would have given them (strings, booleans, lists of
 * strings), for the flags in `flags` (the command's, without --config itself).
 */
export function readConfigFile(
  path: string,
  flags: Readonly<Record<string, FlagKind>>,
): FlagValues {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = err instanceof Error && 'code' in err ? String(err.code) : String(err);
    throw new ConfigFileError(`--config ${path}: cannot read it (${reason})`);
  }
  const document = parseDocument(path, text);
  const values: FlagValues = {};
  for (const [key, value] of Object.entries(document)) {
    const kind = flags[key];
    if (kind === undefined) {
      throw new ConfigFileError(
        `${path}: ${key}: not a setting of this command (settings are its flags without the dashes: ${Object.keys(flags).sort().join(', ')})`,
      );
    }
    values[key] = flagValue(path, key, kind, value);
  }
  return values;
}

function parseDocument(path: string, text: string): Record<string, unknown> {
  const ext = extname(path).toLowerCase();
  let document: unknown;
  try {
    if (ext === '.toml') document = parseToml(text);
    else if (ext === '.json') document = JSON.parse(text);
    else throw new ConfigFileError(`--config ${path}: must end in .toml or .json`);
  } catch (err) {
    if (err instanceof ConfigFileError) throw err;
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new ConfigFileError(`${path}: not valid ${ext.slice(1).toUpperCase()}: ${reason}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new ConfigFileError(`${path}: must hold a table of settings (key = value)`);
  }
  return document as Record<string, unknown>;
}

function flagValue(path: string, key: string, kind: FlagKind, value: unknown): FlagValues[string] {
  const fail = (expected: string): never => {
    throw new ConfigFileError(`${path}: ${key}: must be ${expected}`);
  };
  if (kind.type === 'boolean') return typeof value === 'boolean' ? value : fail('true or false');
  const scalar = (v: unknown): string =>
    typeof v === 'string'
      ? v
      : typeof v === 'number' && Number.isFinite(v)
        ? String(v)
        : fail(kind.multiple === true ? 'a list of strings or numbers' : 'a string or a number');
  if (kind.multiple === true) return Array.isArray(value) ? value.map(scalar) : [scalar(value)];
  return scalar(value);
}

/**
 * The command line over the file: a flag given on the command line replaces the file's
 * value (a repeatable flag's whole list). `origin` says where each key's value came
 * from, for error messages.
 */
export function mergeFlags(
  path: string,
  file: FlagValues,
  commandLine: Readonly<Record<string, unknown>>,
): { values: Record<string, unknown>; origin: (key: string) => string } {
  const values: Record<string, unknown> = { ...file };
  for (const [key, value] of Object.entries(commandLine)) {
    if (value !== undefined) values[key] = value;
  }
  return {
    values,
    origin: (key) =>
      key in file && commandLine[key] === undefined ? `${path}: ${key}` : `--${key}`,
  };
}
