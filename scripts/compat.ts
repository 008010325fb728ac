// `npm run compat`: real programs × real compositors × {direct, grant, passthrough}.
// Writes the matrix (markdown) and every run's details (JSON) to the output directory,
// and with --update-readme puts the matrix into README.md. Flags:
//   --compositors weston,sway,…   (default: all five)
//   --programs foot,mpv,…         (default: all)
//   --ci                          only the bounded CI subset of programs
//   --out DIR                     (default: a fresh directory under /tmp)
//   --update-readme               replace the README's matrix section
//   --from DIR/results.json       judge an earlier run again and render it (with --update-readme)
// Exit status 0 when the suite ran (failing cells are its findings, not errors).

import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type CompositorKind, compositorKinds } from '../harness/real/compositors.js';
import { renderMatrix, replaceReadmeSection } from './compat/matrix.js';
import { programs } from './compat/programs.js';
import { rejudge, runSuite, type SuiteResult } from './compat/suite.js';

/** The repository root: the nearest directory above this module with a package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

function pick<T extends string>(list: string | undefined, all: readonly T[], what: string): T[] {
  if (list === undefined) return [...all];
  const chosen = list.split(',').map((s) => s.trim());
  for (const c of chosen)
    if (!all.includes(c as T))
      throw new Error(`--${what}: unknown "${c}" (known: ${all.join(', ')})`);
  return chosen as T[];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      compositors: { type: 'string' },
      programs: { type: 'string' },
      ci: { type: 'boolean' },
      out: { type: 'string' },
      'update-readme': { type: 'boolean' },
      from: { type: 'string' },
    },
  });
  const root = repoRoot();
  const cli = join(root, 'dist', 'bridge', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const compositors = pick<CompositorKind>(values.compositors, compositorKinds, 'compositors');
  const ids = programs.map((p) => p.id);
  const chosenIds = pick(values.programs, ids, 'programs');
  const chosen = programs.filter(
    (p) => chosenIds.includes(p.id) && (values.ci !== true || p.ci === true),
  );
  const outDir = resolve(
    values.out ??
      (values.from !== undefined
        ? dirname(values.from)
        : await mkdtemp(join(tmpdir(), 'grantway-compat-'))),
  );
  let result: SuiteResult;
  if (values.from !== undefined) {
    // Judged again, so a change of the rules or of a program's notes applies.
    const earlier = JSON.parse(await readFile(values.from, 'utf8')) as SuiteResult;
    result = rejudge(earlier, programs, dirname(values.from));
  } else {
    process.stderr.write(
      `compat: ${compositors.length} compositors × ${chosen.length} programs × 3 modes; output in ${outDir}\n`,
    );
    result = await runSuite({
      compositors,
      programs: chosen,
      outDir,
      cli,
      progress: (line) => process.stderr.write(`${line}\n`),
    });
  }
  const matrix = renderMatrix(result);
  await writeFile(join(outDir, 'matrix.md'), `${matrix}\n`);
  if (values.from === undefined)
    await writeFile(
      join(outDir, 'results.json'),
      JSON.stringify(
        result,
        (_key, value: unknown): unknown =>
          value instanceof Map ? (Object.fromEntries(value) as unknown) : value,
        2,
      ),
    );
  process.stdout.write(`${matrix}\n\nmatrix: ${join(outDir, 'matrix.md')}\n`);
  if (values['update-readme'] === true) {
    const readme = join(root, 'README.md');
    await writeFile(readme, replaceReadmeSection(await readFile(readme, 'utf8'), matrix));
    process.stdout.write(`README.md updated\n`);
  }
  return 0;
}

// Interrupted: exit normally, so the harness's exit hook stops every compositor started.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`compat: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);
