// Child-process entry of forkTestWorker (worker.ts). It is forked with `--conditions=@x/source
// --import tsx`, so the TypeScript worker module given as argv[2] and every @x/* package it imports
// load from their sources, as in the tests themselves: no build is needed first. Serves IPC
// requests: { id, args } -> { id, result } | { id, error }.
const module = await import(process.argv[2]);

process.on('message', async ({ id, args }) => {
  try {
    process.send({ id, result: await module.run(...args) });
  } catch (error) {
    process.send({ id, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ ready: true });
