// The package's public face: what a user imports by name (`grantway/harness`, …) is
// what package.json `exports` maps to the built doors, and `files` ships them. Node
// resolves the package's own name from inside it, so a child `node` in the repository
// imports exactly as a dependent project would (after `npm run build`).

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('..', import.meta.url));

/** The names a module exports, imported by specifier in a fresh node. */
function exportsOf(specifier: string): string[] {
  const run = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m)));`,
    ],
    { cwd: repo, encoding: 'utf8' },
  );
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout) as string[];
}

describe('package exports', () => {
  it.each([
    ['grantway', 'assembleBridge'],
    ['grantway/bridge', 'assembleBridge'],
    ['grantway/harness', 'startHarness'],
    ['grantway/harness/compositor', 'EmbeddedCompositor'],
    ['grantway/policies', 'createPolicy'],
    ['grantway/policies/replay', 'replayTrace'],
    ['grantway/wire', 'encodeMessage'],
  ])('%s gives %s', (specifier, name) => {
    expect(exportsOf(specifier)).toContain(name);
  });

  it('keeps everything else private', () => {
    const run = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', "await import('grantway/bridge/shm/tracker.js')"],
      { cwd: repo, encoding: 'utf8' },
    );
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('ships the doors and no tests', () => {
    const run = spawnSync('npm', ['pack', '--dry-run', '--json'], { cwd: repo, encoding: 'utf8' });
    const [pack] = JSON.parse(run.stdout) as [{ files: { path: string }[] }];
    const files = pack.files.map((f) => f.path);
    for (const door of [
      'dist/bridge/index.js',
      'dist/bridge/index.d.ts',
      'dist/harness/index.js',
      'dist/policies/index.js',
      'dist/bridge/wire/index.js',
      'dist/bridge/cli/main.js',
      'ARCHITECTURE.md',
    ]) {
      expect(files).toContain(door);
    }
    expect(files.filter((f) => f.includes('.test.'))).toEqual([]);
  });
});
