import { defineConfig } from 'vitest/config';

// Tests spawn real daemons and dcmtk peers: two files at a time fits the 2-core CI machine.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    globalSetup: ['test/globalTeardown.ts'],
  },
});
