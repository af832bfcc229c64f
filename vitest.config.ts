import { defineConfig } from 'vitest/config';

// CI sets VITEST_JSON to a path to also get vitest's JSON report (pnpm 12 claims --reporter as
// its own flag, so `pnpm test` cannot pass it through).
const json = process.env.VITEST_JSON;

export default defineConfig({
  resolve: { conditions: ['development'] },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    ...(json ? { reporters: ['default', 'json'], outputFile: { json } } : {}),
  },
});
