import { XError } from '@x/core';

/**
 * Serialized filter data that cannot be restored (`code: 'BLOOM_INVALID_DATA'`): not a filter
 * this package wrote, truncated, or written under a hash contract version it does not know.
 *
 * @example
 * ```ts
 * try { bloomFromJSON(text) } catch (e) { if (isXError(e, 'BLOOM_INVALID_DATA')) rebuild() }
 * ```
 */
export class BloomInvalidDataError extends XError<'BLOOM_INVALID_DATA'> {
  override name = 'BloomInvalidDataError';
  constructor(message: string) {
    super('BLOOM_INVALID_DATA', message);
  }
}

/**
 * A Redis filter already exists under this key with other parameters (m, k, shards, hash version
 * or backend) than the ones asked for (`code: 'BLOOM_METADATA_MISMATCH'`). Nothing is rebuilt or
 * overwritten: open it with the stored parameters, or delete it deliberately.
 *
 * @example
 * ```ts
 * catch (e) { if (isXError(e, 'BLOOM_METADATA_MISMATCH')) console.error(e.stored, e.requested) }
 * ```
 */
export class BloomMetadataMismatchError extends XError<'BLOOM_METADATA_MISMATCH'> {
  override name = 'BloomMetadataMismatchError';
  /** The parameters found on the server. */
  readonly stored: Readonly<Record<string, string>>;
  /** The parameters this process asked for. */
  readonly requested: Readonly<Record<string, string>>;
  constructor(key: string, fields: readonly string[], stored: Record<string, string>, requested: Record<string, string>, message?: string) {
    const diff = fields.map((f) => `${f}: stored ${stored[f] ?? '(none)'}, requested ${requested[f] ?? '(none)'}`).join('; ');
    super('BLOOM_METADATA_MISMATCH', message ?? `bloom filter "${key}" exists on Redis with other parameters (${diff}); open it with the stored parameters or delete it deliberately`);
    this.stored = stored;
    this.requested = requested;
  }

  /** Bit keys exist without their metadata hash: their parameters are unknown (`stored` is empty). */
  static orphaned(key: string): BloomMetadataMismatchError {
    return new BloomMetadataMismatchError(key, [], {}, {}, `bloom filter "${key}": its bit keys exist on Redis without its metadata (deleted or evicted), so the parameters they were written with are unknown; restore the metadata or delete the bit keys deliberately`);
  }
}

/**
 * A Redis filter call got no answer within its deadline, failed, or was skipped while the store
 * was degraded (`code: 'BLOOM_STORE_UNAVAILABLE'`). `add` always rejects with it (a lost add
 * would become a false negative elsewhere); `has` does only with `onStoreError: 'throw'`.
 *
 * @example
 * ```ts
 * catch (e) { if (isXError(e, 'BLOOM_STORE_UNAVAILABLE') && e.timedOut) slowRedis.inc() }
 * ```
 */
export class BloomStoreUnavailableError extends XError<'BLOOM_STORE_UNAVAILABLE'> {
  override name = 'BloomStoreUnavailableError';
  /** True when the call exceeded `timeoutMs`. */
  readonly timedOut: boolean;
  /** True when the call was not sent because the store was degraded. */
  readonly skipped: boolean;
  constructor(message: string, timedOut: boolean, skipped: boolean, cause?: unknown) {
    super('BLOOM_STORE_UNAVAILABLE', message, cause === undefined ? undefined : { cause });
    this.timedOut = timedOut;
    this.skipped = skipped;
  }
}

/**
 * The Redis server has no `BF.*` commands but `backend: 'module'` was asked for
 * (`code: 'BLOOM_MODULE_UNAVAILABLE'`). The filter never falls back to the bitfield backend on
 * its own: the two are not bit-compatible.
 *
 * @example
 * ```ts
 * catch (e) { if (isXError(e, 'BLOOM_MODULE_UNAVAILABLE')) useBitfieldBackend() }
 * ```
 */
export class BloomModuleUnavailableError extends XError<'BLOOM_MODULE_UNAVAILABLE'> {
  override name = 'BloomModuleUnavailableError';
  constructor(message: string, cause?: unknown) {
    super('BLOOM_MODULE_UNAVAILABLE', message, cause === undefined ? undefined : { cause });
  }
}

declare module '@x/core' {
  interface XErrorMap {
    BLOOM_INVALID_DATA: BloomInvalidDataError;
    BLOOM_METADATA_MISMATCH: BloomMetadataMismatchError;
    BLOOM_STORE_UNAVAILABLE: BloomStoreUnavailableError;
    BLOOM_MODULE_UNAVAILABLE: BloomModuleUnavailableError;
  }
}
