// Lint rules: typescript-eslint's type-checked recommendations, plus the rules that
// guard this codebase's boundaries: no `any`, no floating promises on the event loop,
// and the floors of ARCHITECTURE.md §7 — which part may import which, and through
// which door (its barrel). test/lint-floors.test.ts proves that a back-up import fails.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// An import source names a part when a path segment is the part's directory: the
// sources are relative ('../../harness/index.js'), so the patterns look for '/part/'.
const part = (p) => `(^|/)(${p})/`;
const not = (p, why) => ({ regex: part(p), message: why });
/** `p` only through its doors (barrels), e.g. `policies/index.js`. */
const onlyDoors = (p, doors, why) => ({
  regex: `${part(p)}(?!(${doors.join('|')})$)`,
  message: why,
});

const TESTS = not('test', 'test/ is for the tests; nothing they hold is part of the product.');
const SCRIPTS = not('scripts', 'scripts/ are programs of their own; nothing imports them.');
const HARNESS = not(
  'harness',
  'the test harness (harness/) is a product on top of the bridge; the bridge runtime never imports it.',
);
const POLICIES_UP = not(
  'policies',
  'policies sit above the bridge: shm declares what it needs (shm/reclaimer.ts) and the assembly plugs a policy in.',
);
const ASSEMBLY_UP = not('bridge/assembly|assembly', 'the assembly sits above every bridge part.');
const CLI_UP = not('bridge/cli|cli', 'the CLI is the top: nothing imports it.');
const POLICIES_DOOR = onlyDoors(
  'policies',
  ['index\\.js', 'replay/index\\.js'],
  'import policies through its doors: policies/index.js (scheduler, policies) or policies/replay/index.js (replays, bench).',
);
const HARNESS_DOOR = onlyDoors(
  'harness',
  ['index\\.js', 'compositor/index\\.js'],
  'import the harness through its doors: harness/index.js or harness/compositor/index.js.',
);
const BRIDGE_DOORS = [
  onlyDoors('bridge/grants', ['index\\.js'], 'import grants through bridge/grants/index.js.'),
  onlyDoors('bridge/oracle', ['index\\.js'], 'import the oracle through bridge/oracle/index.js.'),
  onlyDoors('bridge/wire', ['index\\.js'], 'import the wire layer through bridge/wire/index.js.'),
  onlyDoors('bridge/shm', ['index\\.js'], 'import shm through bridge/shm/index.js.'),
  onlyDoors('bridge/assembly', ['index\\.js'], 'import the assembly through bridge/index.js.'),
];

/** One floor: the files it holds and the imports it may not make. Tests are exempt. */
const floor = (files, patterns, ignores = []) => ({
  files,
  ignores: ['**/*.test.ts', ...ignores],
  rules: { 'no-restricted-imports': ['error', { patterns }] },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bridge/protocol/generated/**', 'fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  // The floors, bottom up (ARCHITECTURE.md §7). Each file is in exactly one of them.
  floor(
    ['ffi/**/*.ts'],
    [
      not('bridge', 'ffi/ is the floor: typed system calls, nothing above them.'),
      not('policies', 'ffi/ is the floor.'),
      HARNESS,
      SCRIPTS,
      TESTS,
    ],
  ),
  floor(
    ['bridge/**/*.ts'],
    [POLICIES_UP, HARNESS, SCRIPTS, TESTS, ASSEMBLY_UP, CLI_UP],
    ['bridge/assembly/**', 'bridge/ops/**', 'bridge/cli/**', 'bridge/index.ts'],
  ),
  floor(
    ['policies/**/*.ts'],
    [
      not('ffi', 'policies see typed events only: no system calls.'),
      not('bridge/relay', 'policies see typed events only, not the relay.'),
      ...BRIDGE_DOORS,
      HARNESS,
      SCRIPTS,
      TESTS,
    ],
  ),
  // The assembly, and operators' views of what it assembled (bridge/ops/: they read the
  // scheduler's grants and stats as the assembly's figures do).
  floor(
    ['bridge/assembly/**/*.ts', 'bridge/ops/**/*.ts', 'bridge/index.ts'],
    [POLICIES_DOOR, HARNESS, SCRIPTS, TESTS, CLI_UP],
  ),
  floor(['bridge/cli/**/*.ts'], [POLICIES_DOOR, HARNESS_DOOR, SCRIPTS, TESTS]),
  floor(['harness/**/*.ts'], [POLICIES_DOOR, ...BRIDGE_DOORS, CLI_UP, SCRIPTS, TESTS]),
  floor(['scripts/**/*.ts'], [POLICIES_DOOR, CLI_UP, TESTS]),
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
