import type { EventBus } from '@x/core';

/**
 * The same bus as an older `@x/core` built it: no `version` for hot paths to cache their listener
 * checks by, so policies must ask `hasListeners` on every call.
 */
export function busWithoutVersion(inner: EventBus): EventBus {
  return {
    on: inner.on.bind(inner),
    emit: inner.emit.bind(inner),
    hasListeners: inner.hasListeners.bind(inner),
    track: inner.track.bind(inner),
    tracked: inner.tracked.bind(inner),
  };
}
