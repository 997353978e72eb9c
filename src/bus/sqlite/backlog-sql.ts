// Per-route backlog, oldest ready delivery and dead letters, read on each /metrics scrape. Every
// statement is an indexed count or min over one partial index, so a scrape costs O(backlog) index
// entries at most and never scans history.
import type Database from 'better-sqlite3';

export interface RouteBacklog {
  route: string;
  /** Ready now or later (incl. retries waiting for their backoff). */
  ready: number;
  /** Behind an unfinished delivery of the same partition key. */
  waiting: number;
  dead: number;
  /** How long the oldest delivery that could run now has been ready; 0 when none. */
  oldestReadyAgeMs: number;
}

export class BacklogReader {
  private readonly subs: Database.Statement<[], { name: string }>;
  private readonly ready: Database.Statement<[string], { n: number }>;
  private readonly waiting: Database.Statement<[string], { n: number }>;
  private readonly dead: Database.Statement<[string], { n: number }>;
  private readonly oldest: Database.Statement<[string, number], { at: number | null }>;

  constructor(db: Database.Database) {
    this.subs = db.prepare(`SELECT name FROM subscriptions WHERE active = 1 ORDER BY name`);
    // deliveries_ready (sub, available_at, id) WHERE state = 'ready'
    this.ready = db.prepare(
      `SELECT count(*) AS n FROM deliveries WHERE sub = ? AND state = 'ready'`,
    );
    // deliveries_waiting (sub, pkey, id) WHERE state = 'waiting'
    this.waiting = db.prepare(
      `SELECT count(*) AS n FROM deliveries WHERE sub = ? AND state = 'waiting'`,
    );
    // deliveries_dead (sub, id) WHERE state = 'dead'
    this.dead = db.prepare(`SELECT count(*) AS n FROM deliveries WHERE sub = ? AND state = 'dead'`);
    // The first entry of deliveries_ready for the route: a retry still in its backoff is not late.
    this.oldest = db.prepare(
      `SELECT min(available_at) AS at FROM deliveries
        WHERE sub = ? AND state = 'ready' AND available_at <= ?`,
    );
  }

  read(now = Date.now()): RouteBacklog[] {
    return this.subs.all().map(({ name }) => {
      const oldest = this.oldest.get(name, now)?.at ?? null;
      return {
        route: name,
        ready: this.ready.get(name)?.n ?? 0,
        waiting: this.waiting.get(name)?.n ?? 0,
        dead: this.dead.get(name)?.n ?? 0,
        oldestReadyAgeMs: oldest === null ? 0 : Math.max(0, now - oldest),
      };
    });
  }
}

const BACKLOG_TTL_MS = 250;

/**
 * Unfinished deliveries (waiting, ready, leased, parked, batched) per subscription, for
 * backpressure. One grouped count per state over an index that holds only that state's rows:
 * O(backlog) index entries, never the finished history.
 */
export class BacklogCounter {
  private readonly counts: Database.Statement<[], { sub: string; n: number }>[];
  private last: { at: number; counts: Map<string, number> } | undefined;

  constructor(db: Database.Database) {
    const count = (from: string, where: string) =>
      db.prepare<[], { sub: string; n: number }>(
        `SELECT sub, count(*) AS n FROM ${from} WHERE ${where} GROUP BY sub`,
      );
    this.counts = [
      count('deliveries', `state = 'ready'`), // deliveries_ready
      count('deliveries', `state = 'waiting'`), // deliveries_waiting
      count('deliveries', `state = 'leased'`), // deliveries_leased
      count('deliveries', `batch IS NOT NULL`), // deliveries_batch: unfinished members
      count('waits', '1 = 1'), // a parked delivery has exactly one wait
    ];
  }

  read(): Map<string, number> {
    const total = new Map<string, number>();
    for (const count of this.counts)
      for (const row of count.all()) total.set(row.sub, (total.get(row.sub) ?? 0) + row.n);
    this.last = { at: Date.now(), counts: total };
    return total;
  }

  /**
   * Counts at most BACKLOG_TTL_MS old (real time): backpressure asks on every ingress request,
   * and a little staleness is what it allows for.
   */
  recent(): Map<string, number> {
    const last = this.last;
    return last !== undefined && Date.now() - last.at < BACKLOG_TTL_MS ? last.counts : this.read();
  }
}
