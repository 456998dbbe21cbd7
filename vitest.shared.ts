import { defineProject } from 'vitest/config';

// Resolve workspace packages to their TypeScript sources (the `@x/source` export condition), so
// tests run on a clean checkout without building anything first.
const conditions = ['@x/source', 'module', 'node', 'development', 'import', 'default'];

/** The vitest project every package uses; `name` is the package folder. */
export function packageProject(name: string, extra: { testTimeout?: number } = {}) {
  return defineProject({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['@x/source'] } },
    test: {
      name,
      include: ['src/**/*.test.ts'],
      restoreMocks: true,
      testTimeout: extra.testTimeout ?? 10_000,
      // Type tests (src/**/*.test-d.ts) are compiled by `tsc -p tsconfig.test.json` (`pnpm typecheck`,
      // a CI step of its own): a failed expectTypeOf is a compile error there. Vitest's typecheck
      // mode would check the same files again and print its "experimental feature" banner once per
      // project (22 times a run). Opt in with VITEST_TYPECHECK=1 to see type tests as test results.
      typecheck: {
        enabled: process.env.VITEST_TYPECHECK === '1',
        include: ['src/**/*.test-d.ts'],
        tsconfig: './tsconfig.test.json',
      },
    },
  });
}
