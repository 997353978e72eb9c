// Counts refused webhook requests per source and reason, in memory, for `agentd status` and a
// later /metrics endpoint. Labels come from config names and a fixed reason list only, never from
// the request, so a scanner cannot grow the table.
export interface RejectCount {
  source: string;
  reason: string;
  count: number;
}

/** The read side: what a metrics endpoint or the status API needs. */
export interface RejectCounts {
  snapshot(): RejectCount[];
  /** Counts for one source, by reason. */
  forSource(source: string): Record<string, number>;
}

/** Requests to /hooks/<name> for a name no source has are counted under this source label. */
export const UNKNOWN_SOURCE = '(unknown)';

export class RejectCounter implements RejectCounts {
  private readonly counts = new Map<string, Map<string, number>>();

  add(source: string, reason: string): void {
    let bySource = this.counts.get(source);
    if (bySource === undefined) {
      bySource = new Map();
      this.counts.set(source, bySource);
    }
    bySource.set(reason, (bySource.get(reason) ?? 0) + 1);
  }

  snapshot(): RejectCount[] {
    const out: RejectCount[] = [];
    for (const [source, reasons] of this.counts)
      for (const [reason, count] of reasons) out.push({ source, reason, count });
    return out;
  }

  forSource(source: string): Record<string, number> {
    return Object.fromEntries(this.counts.get(source) ?? []);
  }
}
