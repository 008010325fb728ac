// The floors of ARCHITECTURE.md §7 hold because lint refuses an import that runs one
// back up, or that goes around a part's door. Each case lints a real file of the tree
// with the repository's own eslint.config.js (as `npx eslint .` does), once as it is
// and once with one more import line: the first must pass the rule, the second fail it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('..', import.meta.url));
const eslint = new ESLint({ cwd: repo });

/** The no-restricted-imports messages for `file` with `extra` prepended. */
async function floorErrors(file: string, extra: string): Promise<string[]> {
  const path = join(repo, file);
  const text = `${extra}${readFileSync(path, 'utf8')}`;
  const [result] = await eslint.lintText(text, { filePath: path });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message);
}

interface Case {
  readonly what: string;
  readonly file: string;
  readonly line: string;
  readonly says: RegExp;
}

const backUp: Case[] = [
  {
    what: 'shm importing a policy',
    file: 'bridge/shm/grant-mode.ts',
    line: "import type { LiveReclaimer } from '../../policies/live.js';\n",
    says: /policies sit above the bridge/,
  },
  {
    what: 'ffi importing the bridge',
    file: 'ffi/libc.ts',
    line: "import type { ArgValue } from '../bridge/wire/index.js';\n",
    says: /ffi\/ is the floor/,
  },
  {
    what: 'the relay importing the harness',
    file: 'bridge/relay/session.ts',
    line: "import type { Harness } from '../../harness/index.js';\n",
    says: /the bridge runtime never imports it/,
  },
  {
    what: 'a bridge part importing the assembly',
    file: 'bridge/shm/lifecycle.ts',
    line: "import type { AssembledBridge } from '../assembly/assemble.js';\n",
    says: /assembly sits above/,
  },
  {
    what: 'the harness going around the wire door',
    file: 'harness/index.ts',
    line: "import type { Frame } from '../bridge/wire/frame-reader.js';\n",
    says: /bridge\/wire\/index\.js/,
  },
  {
    what: 'the assembly going around the policies door',
    file: 'bridge/assembly/assemble.ts',
    line: "import type { GrantInfo } from '../../policies/types.js';\n",
    says: /through its doors/,
  },
  {
    what: 'a script importing the CLI',
    file: 'scripts/bench-policies.ts',
    line: "import type { BridgeModeOptions } from '../bridge/cli/options.js';\n",
    says: /nothing imports it/,
  },
];

describe('eslint keeps the floors', { timeout: 300_000 }, () => {
  it.each(backUp)('refuses $what ($file)', async ({ file, line, says }) => {
    expect(await floorErrors(file, '')).toEqual([]);
    const errors = await floorErrors(file, line);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(says);
  });

  it('lets an import through a door', async () => {
    expect(
      await floorErrors(
        'harness/index.ts',
        "import type { Frame } from '../bridge/wire/index.js';\n",
      ),
    ).toEqual([]);
  });
});
