// Counts refused webhook requests per source and reason, in memory, for `agentd status` and a
// later /metrics endpoint. Labels come from config names and a fixed reason list only, never from
// the request, so a scanner cannot grow the table.
export interface RejectCount {
  source: string;
  reason: string;
  /** The full route a 'backlog-full' refusal named. */
  route?: string;
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
  /** 'backlog-full' refusals per source and route (route names come from the config too). */
  private readonly backlogFull = new Map<string, Map<string, number>>();

  add(source: string, reason: string, route?: string): void {
    bump(this.counts, source, reason);
    if (route !== undefined) bump(this.backlogFull, source, route);
  }

  snapshot(): RejectCount[] {
    const out: RejectCount[] = [];
    for (const [source, reasons] of this.counts)
      for (const [reason, count] of reasons)
        if (reason !== 'backlog-full' || !this.backlogFull.has(source))
          out.push({ source, reason, count });
    for (const [source, routes] of this.backlogFull)
      for (const [route, count] of routes)
        out.push({ source, reason: 'backlog-full', route, count });
    return out;
  }

  forSource(source: string): Record<string, number> {
    return Object.fromEntries(this.counts.get(source) ?? []);
  }
}

function bump(table: Map<string, Map<string, number>>, outer: string, inner: string): void {
  let row = table.get(outer);
  if (row === undefined) {
    row = new Map();
    table.set(outer, row);
  }
  row.set(inner, (row.get(inner) ?? 0) + 1);
}
