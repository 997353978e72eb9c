// Ids from the pooled random source: event ids are valid UUIDv7 and sort in the order they were
// made (also many within one millisecond), trace and span ids are W3C hex ids, and none repeat.
import { validate, version } from 'uuid';
import { describe, expect, it } from 'vitest';
import { newEventId, newSpanId, newTraceId } from '../../src/core/ids.js';

describe('ids', () => {
  it('makes UUIDv7 event ids that sort in the order they were made', () => {
    const ids = Array.from({ length: 20_000 }, () => newEventId());
    for (const id of ids.slice(0, 100)) {
      expect(validate(id)).toBe(true);
      expect(version(id)).toBe(7);
    }
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('makes trace and span ids of random lowercase hex, never repeated', () => {
    const traces = Array.from({ length: 5_000 }, () => newTraceId());
    const spans = Array.from({ length: 5_000 }, () => newSpanId());
    for (const id of traces) expect(id).toMatch(/^[0-9a-f]{32}$/);
    for (const id of spans) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(traces).size).toBe(traces.length);
    expect(new Set(spans).size).toBe(spans.length);
  });
});
