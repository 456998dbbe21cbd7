import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeDoc, encodeNewDoc, failureInfo } from './doc.js';
import type { RecordDoc } from './types.js';

describe('encodeNewDoc (the add path)', () => {
  it('parses to the same record as encodeDoc for any item, key, idempotency key, meta and failure', () => {
    const text = fc.string({ unit: 'binary' });
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.option(text, { nil: undefined }),
        fc.option(text, { nil: undefined }),
        fc.option(fc.dictionary(text, fc.jsonValue()), { nil: undefined }),
        fc.anything(),
        fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 }),
        (item, key, idempotencyKey, meta, error, now) => {
          const failure = failureInfo(error, 'add', now);
          const doc: RecordDoc = {
            item,
            ...(key !== undefined && { key }),
            ...(idempotencyKey !== undefined && { idempotencyKey }),
            ...(meta !== undefined && { meta }),
            failure,
            attempts: 0,
            addedAt: now,
            revived: 0,
          };
          expect(JSON.parse(encodeNewDoc(item, key, idempotencyKey, meta, failure, now))).toEqual(JSON.parse(encodeDoc(doc)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rejects an item that has no JSON form, like encodeDoc', () => {
    const failure = failureInfo(new Error('x'), 'add', 1);
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(() => encodeNewDoc(cyclic, undefined, undefined, undefined, failure, 1)).toThrow(expect.objectContaining({ code: 'DLQ_INVALID_ITEM' }));
    expect(() => encodeNewDoc(() => 1, undefined, undefined, undefined, failure, 1)).toThrow(expect.objectContaining({ code: 'DLQ_INVALID_ITEM' }));
    expect(() => encodeNewDoc(1, undefined, undefined, { bad: 1n }, failure, 1)).toThrow(expect.objectContaining({ code: 'DLQ_INVALID_ITEM' }));
  });
});
