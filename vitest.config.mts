import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

// Tests run against the TypeScript sources: `@postern/<lib>` resolves to `libs/<lib>/src/index.ts`.
const alias = [
  { find: /^@postern\/([a-z0-9-]+)$/, replacement: `${root}libs/$1/src/index.ts` },
  // A library's second entry point (`@postern/service-kit/client`): libs/<lib>/src/<entry>.ts.
  { find: /^@postern\/([a-z0-9-]+)\/([a-z0-9-]+)$/, replacement: `${root}libs/$1/src/$2.ts` },
];

export default defineConfig({
  resolve: { alias },
  test: {
    // The summary reporter prints the `N passed, N failed` line CI reads (see test/summary-reporter.mjs).
    reporters: ['default', './test/summary-reporter.mjs'],
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          // Unit tests first: they are fast and say most about a failure.
          sequence: { groupOrder: 0 },
          include: ['libs/*/src/**/*.spec.ts', 'apps/*/src/**/*.spec.ts', 'test/lint/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          // Removes what a file's servers left in the temporary directory, after its own hooks.
          setupFiles: ['test/harness/vitest-setup.ts'],
          // Real servers start per file; give slow machines room without hiding hangs.
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Files start their own servers on ephemeral ports; two cores do not gain from more.
          maxWorkers: 2,
        },
      },
    ],
  },
});
