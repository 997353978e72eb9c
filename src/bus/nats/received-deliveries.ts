// Which of a consumer's delivery sequences this process received, kept as merged ranges. Deliveries
// are numbered across all pullers and first deliveries go out in stream order, so when every
// delivery between two of ours came here too, nothing of the route lies between them in the stream
// that this process has not seen — the fact the per-key local handoff rests on.
export class ReceivedDeliveries {
  /** Sorted, disjoint, non-adjacent [from, to] ranges. */
  private ranges: [number, number][] = [];

  add(dseq: number): void {
    const ranges = this.ranges;
    const last = ranges[ranges.length - 1];
    // The common case: the next delivery after the last one.
    if (last !== undefined && dseq === last[1] + 1) {
      last[1] = dseq;
      return;
    }
    if (last === undefined || dseq > last[1] + 1) {
      ranges.push([dseq, dseq]);
      return;
    }
    let i = 0;
    while (i < ranges.length && ranges[i]![1] < dseq - 1) i++;
    const at = ranges[i];
    if (at === undefined || dseq < at[0] - 1) {
      ranges.splice(i, 0, [dseq, dseq]);
      return;
    }
    at[0] = Math.min(at[0], dseq);
    at[1] = Math.max(at[1], dseq);
    const next = ranges[i + 1];
    if (next !== undefined && next[0] <= at[1] + 1) {
      at[1] = Math.max(at[1], next[1]);
      ranges.splice(i + 1, 1);
    }
  }

  /** True when every delivery strictly between `a` and `b` came to this process. */
  covers(a: number, b: number): boolean {
    if (b <= a + 1) return true;
    return this.ranges.some(([from, to]) => from <= a + 1 && to >= b - 1);
  }

  /** Forgets deliveries below `floor` (nothing held here is older). */
  prune(floor: number): void {
    while (this.ranges.length > 0 && this.ranges[0]![1] < floor) this.ranges.shift();
    const first = this.ranges[0];
    if (first !== undefined && first[0] < floor) first[0] = floor;
  }
}
