// Time bounds as seq bounds. stored_at is the publish transaction's clock and seq its insert
// order, so the two grow together: a binary search over seq (two seeks per step, about 17 steps
// at 100,000 events) finds where a time starts, with no index on stored_at for every publish to
// pay for. A wall clock stepped backwards breaks the order; the filters still check stored_at on
// each row, so such a step can only hide events stored next to the bound.
import type Database from 'better-sqlite3';

export interface SeqWindow {
  /** The smallest seq in the window. */
  from: number;
  /** One past the largest seq in the window. */
  below: number;
  /** How many seqs the window spans at most: what walking it costs. */
  span: number;
  /** No bound narrows it: every stored event is in it. */
  whole: boolean;
}

export class SeqByTime {
  private readonly lowest: Database.Statement<[], { seq: number | null }>;
  private readonly highest: Database.Statement<[], { seq: number | null }>;
  private readonly atOrAfter: Database.Statement<[number], { seq: number; stored_at: number }>;

  constructor(db: Database.Database) {
    // min() and max() of the rowid are one seek each, but only asked one at a time.
    this.lowest = db.prepare(`SELECT min(seq) AS seq FROM events`);
    this.highest = db.prepare(`SELECT max(seq) AS seq FROM events`);
    this.atOrAfter = db.prepare(
      `SELECT seq, stored_at FROM events WHERE seq >= ? ORDER BY seq LIMIT 1`,
    );
  }

  /**
   * The seqs of events stored in [since, until] and below the cursor; undefined when the window
   * is empty (the store is, or the bounds leave nothing).
   */
  window(bounds: { since?: number; until?: number; cursor?: number }): SeqWindow | undefined {
    const top = this.highest.get()?.seq ?? null;
    if (top === null) return undefined;
    let from = 0;
    let below = Math.min(bounds.cursor ?? Infinity, top + 1);
    if (bounds.since !== undefined) {
      const first = this.firstFrom(bounds.since, top);
      if (first === undefined) return undefined;
      from = first;
    }
    if (bounds.until !== undefined)
      below = Math.min(below, this.firstFrom(bounds.until + 1, top) ?? below);
    if (from >= below) return undefined;
    return { from, below, span: below - from, whole: from === 0 && below === top + 1 };
  }

  /** The first seq stored at or after `ms`. */
  private firstFrom(ms: number, top: number): number | undefined {
    let lo = this.lowest.get()?.seq ?? top;
    let hi = top;
    let found: number | undefined;
    // Seqs below lo were stored before ms; found is the lowest seq seen stored at or after it.
    while (lo <= hi) {
      const row = this.atOrAfter.get(Math.floor((lo + hi) / 2));
      if (row === undefined) break;
      if (row.stored_at >= ms) {
        found = row.seq;
        hi = Math.floor((lo + hi) / 2) - 1;
      } else {
        lo = row.seq + 1;
      }
    }
    return found;
  }
}
