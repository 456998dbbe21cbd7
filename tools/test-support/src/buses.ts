// Structural, not `import type { EventBus } from '@x/core'`: core's own tests use this package, so
// depending on core would make a build cycle.
type BusMethods = 'on' | 'emit' | 'hasListeners' | 'track' | 'tracked';

/**
 * The same bus as an older `@x/core` built it: no `version` for hot paths to cache their listener
 * checks by, so policies must ask `hasListeners` on every call.
 */
export function busWithoutVersion<B extends Record<BusMethods, (...args: never[]) => unknown>>(inner: B): Pick<B, BusMethods> {
  const method = <K extends BusMethods>(key: K): B[K] => inner[key].bind(inner) as B[K];
  return { on: method('on'), emit: method('emit'), hasListeners: method('hasListeners'), track: method('track'), tracked: method('tracked') };
}
