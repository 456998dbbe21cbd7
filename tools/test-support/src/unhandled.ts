/** Collects the process's unhandled rejections between `start()` and `stop()`. */
export interface UnhandledRejections {
  readonly reasons: unknown[];
  start(): void;
  stop(): void;
}

/**
 * For tests that must prove nothing surfaces as an unhandled rejection (abandoned work that
 * rejects later): `beforeEach(watch.start)`, `afterEach(watch.stop)`, then assert `watch.reasons`.
 */
export function unhandledRejections(): UnhandledRejections {
  const reasons: unknown[] = [];
  const record = (reason: unknown) => reasons.push(reason);
  return {
    reasons,
    start: () => {
      reasons.length = 0;
      process.on('unhandledRejection', record);
    },
    stop: () => {
      process.off('unhandledRejection', record);
    },
  };
}
