// --config FILE: every flag of `grantway proxy` can be set in TOML or JSON, the command
// line wins, and whatever is wrong is named by file and key.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigFileError } from './config-file.js';
import {
  FLAG_SPEC,
  OptionError,
  proxyOptionsSchema,
  runOptionsSchema,
  validateCommandOptions,
} from './options.js';

const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('--config', () => {
  it('has a flag for every setting of proxy and run, so every one can be set in the file', () => {
    for (const schema of [proxyOptionsSchema, runOptionsSchema]) {
      for (const key of Object.keys(schema.shape)) expect(FLAG_SPEC).toHaveProperty(key);
    }
  });

  it('reads every kind of setting from TOML, numbers as numbers or as the flag text', async () => {
    const path = file(
      'all.toml',
      [
        'upstream = "wayland-1"',
        'listen = "gw-9"',
        'trace = true',
        'protocol-dir = ["/a", "/b"]',
        'policy = "linux-deferred"',
        'policy-opt = ["periodMs=500"]',
        'max-pool-size = "64M"',
        'max-objects = 5000',
        'max-clients = 12',
        'max-shm-total-all = 1073741824',
        'metrics = "127.0.0.1:9464"',
        'log-level = "warn"',
      ].join('\n'),
    );
    const o = await validateCommandOptions(proxyOptionsSchema, { config: path });
    expect(o).toMatchObject({
      upstream: 'wayland-1',
      listen: 'gw-9',
      trace: true,
      'protocol-dir': ['/a', '/b'],
      policy: 'linux-deferred',
      'policy-opt': ['periodMs=500'],
      'max-pool-size': 64 * 1024 * 1024,
      'max-objects': 5000,
      'max-clients': 12,
      'max-shm-total-all': 1024 ** 3,
      metrics: { kind: 'tcp', host: '127.0.0.1', port: 9464 },
      'log-level': 'warn',
    });
  });

  it('reads JSON the same way', async () => {
    const path = file('p.json', JSON.stringify({ upstream: 'wayland-2', 'max-fds': 256 }));
    expect(await validateCommandOptions(proxyOptionsSchema, { config: path })).toMatchObject({
      upstream: 'wayland-2',
      'max-fds': 256,
    });
  });

  it('lets flags given on the command line override the file, a repeatable one as a whole', async () => {
    const path = file('o.toml', 'upstream = "a"\nmax-clients = 5\nprotocol-dir = ["/x"]\n');
    const o = await validateCommandOptions(proxyOptionsSchema, {
      config: path,
      'max-clients': '7',
      'protocol-dir': ['/y'],
    });
    expect(o).toMatchObject({ upstream: 'a', 'max-clients': 7, 'protocol-dir': ['/y'] });
  });

  it('names the file and the key of a bad value, and the flag of a bad flag', async () => {
    const path = file('bad.toml', 'upstream = "a"\nmax-clients = 0\n');
    await expect(validateCommandOptions(proxyOptionsSchema, { config: path })).rejects.toThrow(
      new OptionError(`${path}: max-clients: Too small: expected number to be >=1`),
    );
    await expect(
      validateCommandOptions(proxyOptionsSchema, { config: path, 'max-clients': '-1' }),
    ).rejects.toThrow(/^--max-clients: /);
    const mode = file('mode.toml', 'upstream = "a"\nmode = "fast"\n');
    await expect(validateCommandOptions(proxyOptionsSchema, { config: mode })).rejects.toThrow(
      `${mode}: mode: must be one of grant, passthrough`,
    );
    const metrics = file('m.toml', 'upstream = "a"\nmetrics = "0.0.0.0:9464"\n');
    await expect(validateCommandOptions(proxyOptionsSchema, { config: metrics })).rejects.toThrow(
      new RegExp(`^${metrics}: metrics: must be a unix socket path`),
    );
  });

  it('refuses keys that are no setting, values of the wrong kind, and broken files', async () => {
    const typo = file('typo.toml', 'upstream = "a"\nmax-client = 5\n');
    await expect(validateCommandOptions(proxyOptionsSchema, { config: typo })).rejects.toThrow(
      new RegExp(`^${typo}: max-client: not a setting of this command`),
    );
    const kind = file('kind.toml', 'upstream = "a"\ntrace = "yes"\n');
    await expect(validateCommandOptions(proxyOptionsSchema, { config: kind })).rejects.toThrow(
      new ConfigFileError(`${kind}: trace: must be true or false`),
    );
    const list = file('list.toml', 'upstream = ["a"]\n');
    await expect(validateCommandOptions(proxyOptionsSchema, { config: list })).rejects.toThrow(
      `${list}: upstream: must be a string or a number`,
    );
    const broken = file('broken.toml', 'upstream = = "a"\n');
    await expect(validateCommandOptions(proxyOptionsSchema, { config: broken })).rejects.toThrow(
      new RegExp(`^${broken}: not valid TOML: `),
    );
    const yaml = file('p.yaml', 'upstream: a\n');
    await expect(validateCommandOptions(proxyOptionsSchema, { config: yaml })).rejects.toThrow(
      /must end in \.toml or \.json/,
    );
    await expect(
      validateCommandOptions(proxyOptionsSchema, { config: join(dir, 'missing.toml') }),
    ).rejects.toThrow(/cannot read it \(ENOENT\)/);
    const array = file('array.json', '[1]');
    await expect(validateCommandOptions(proxyOptionsSchema, { config: array })).rejects.toThrow(
      /must hold a table of settings/,
    );
  });

  it('names a setting that is required and missing from both', async () => {
    const path = file('none.toml', 'max-clients = 5\n');
    await expect(validateCommandOptions(proxyOptionsSchema, { config: path })).rejects.toThrow(
      '--upstream: is required',
    );
  });
});
