import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;

/** Runs a full garbage collection, without needing `node --expose-gc`. */
export function gc(): void {
  if (collect === undefined) {
    setFlagsFromString('--expose_gc');
    collect = runInNewContext('gc') as () => void;
  }
  collect();
}

/** Heap in use after two full collections: the baseline and end point of leak tests. */
export function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** How many `abort` listeners are attached to `signal`: what a leak test on a long-lived signal counts. */
export function abortListeners(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}
