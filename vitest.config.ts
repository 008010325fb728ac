import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'bridge/**/*.test.ts',
      'harness/**/*.test.ts',
      'ffi/**/*.test.ts',
      'policies/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    // Integration tests start real compositors and clients; one file at a time keeps
    // the 2-core machines from timing each other out.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
