// The worker module of worker.test.ts: echoes its arguments with its pid, or fails on request.
export function run(...args: unknown[]): { pid: number; args: unknown[] } {
  if (args[0] === 'fail') throw new Error('asked to fail');
  if (args[0] === 'exit') process.exit(3);
  return { pid: process.pid, args };
}
