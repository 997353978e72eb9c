// The local key handoff trusts ReceivedDeliveries to say whether every consumer delivery between
// two of ours came to this process; a wrong "yes" would let a key's message run out of order.
import { describe, expect, it } from 'vitest';
import { ReceivedDeliveries } from '../../../src/bus/nats/received-deliveries.js';

function received(...dseqs: number[]): ReceivedDeliveries {
  const ranges = new ReceivedDeliveries();
  for (const dseq of dseqs) ranges.add(dseq);
  return ranges;
}

describe('ReceivedDeliveries', () => {
  it('covers a run of deliveries that all came here, in any order', () => {
    const ranges = received(5, 3, 4, 7, 6, 8);
    expect(ranges.covers(3, 8)).toBe(true);
    expect(ranges.covers(2, 9)).toBe(true);
  });

  it('does not cover a gap another worker took', () => {
    const ranges = received(1, 2, 3, 5, 6);
    expect(ranges.covers(2, 6)).toBe(false);
    expect(ranges.covers(4, 6)).toBe(true);
  });

  it('merges ranges when the gap between them fills', () => {
    const ranges = received(1, 2, 6, 7, 4, 3);
    expect(ranges.covers(1, 7)).toBe(false);
    ranges.add(5);
    expect(ranges.covers(1, 7)).toBe(true);
  });

  it('covers neighbours trivially and forgets what is pruned', () => {
    const ranges = received(10, 11, 12);
    expect(ranges.covers(20, 21)).toBe(true);
    ranges.prune(12);
    expect(ranges.covers(10, 13)).toBe(false);
    expect(ranges.covers(11, 13)).toBe(true);
  });
});
