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
      typecheck: {
        enabled: true,
        include: ['src/**/*.test-d.ts'],
        tsconfig: './tsconfig.test.json',
      },
    },
  });
}
