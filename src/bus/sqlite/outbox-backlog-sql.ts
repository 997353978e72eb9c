// Outbox actions not yet sent, waiting for approval, or dead, per sink: read on each /metrics
// scrape. The outbox_state (state, id) index finds the rows of each state; only those rows are
// read (for their sink), so a scrape costs what is unsent or dead, never the sent history.
import type Database from 'better-sqlite3';

export interface SinkBacklog {
  sink: string;
  /** Due now or later (retries in backoff included), or being sent. */
  pending: number;
  awaitingApproval: number;
  /** Failed for good: the outbox's dead-letter queue. */
  dead: number;
}

export class OutboxBacklogReader {
  private readonly counts: Database.Statement<[], { sink: string; state: string; n: number }>;

  constructor(db: Database.Database) {
    this.counts = db.prepare(
      `SELECT sink, state, count(*) AS n FROM outbox
        WHERE state IN ('pending', 'sending', 'pending-approval', 'dead')
        GROUP BY sink, state`,
    );
  }

  /** One entry per sink with such actions, and one (of zeros) for each of `known`. */
  read(known: readonly string[] = []): SinkBacklog[] {
    const bySink = new Map<string, SinkBacklog>(
      known.map((sink) => [sink, { sink, pending: 0, awaitingApproval: 0, dead: 0 }]),
    );
    for (const row of this.counts.all()) {
      let sink = bySink.get(row.sink);
      if (sink === undefined) {
        sink = { sink: row.sink, pending: 0, awaitingApproval: 0, dead: 0 };
        bySink.set(row.sink, sink);
      }
      if (row.state === 'dead') sink.dead += row.n;
      else if (row.state === 'pending-approval') sink.awaitingApproval += row.n;
      else sink.pending += row.n;
    }
    return [...bySink.values()].sort((a, b) => a.sink.localeCompare(b.sink));
  }
}
