// Child-process entry for tests that need several real processes (src/multiprocess.test.ts).
// Node 20 cannot run TypeScript, and the package must not need a build before its tests run, so
// this loads the TypeScript worker module given as argv[2] through Vite's module runner (the same
// transform Vitest uses, resolving @x/* packages to their sources), then serves IPC requests:
// { id, args } -> { id, result } | { id, error }.
import { runnerImport } from 'vite';

const conditions = ['@x/source', 'module', 'node', 'development', 'import', 'default'];
const { module } = await runnerImport(process.argv[2], {
  configFile: false,
  logLevel: 'error',
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['@x/source'] } },
});

process.on('message', async ({ id, args }) => {
  try {
    process.send({ id, result: await module.run(...args) });
  } catch (error) {
    process.send({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
