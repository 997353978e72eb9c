// DeadLetterQueue over the deliveries table: list, show, replay and purge dead deliveries.
import type { AgentdEvent } from '../../core/envelope.js';
import type { DeadLetter, DeadLetterFilter, DeadLetterQueue, ErrorRecord } from '../bus.js';
import type { DeadRow, DlqStatements } from './dlq-sql.js';

interface DlqHost {
  readonly sql: { dlq: DlqStatements };
  write<T>(fn: () => T): Promise<T>;
  markReadyChanged(): void;
}

export class SqliteDeadLetterQueue implements DeadLetterQueue {
  constructor(private readonly host: DlqHost) {}

  async list(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const rows = this.host.sql.dlq.list(
      filter.subscription ?? null,
      filter.type ?? null,
      filter.limit ?? 100,
    );
    return rows.map(toDeadLetter);
  }

  async show(deliveryId: string): Promise<DeadLetter | undefined> {
    const id = parseId(deliveryId);
    if (id === undefined) return undefined;
    const row = this.host.sql.dlq.show(id);
    return row === undefined ? undefined : toDeadLetter(row);
  }

  async replay(deliveryIds: readonly string[], options: { fresh?: boolean } = {}): Promise<number> {
    const ids = deliveryIds.map(parseId).filter((id): id is number => id !== undefined);
    return this.host.write(() => {
      const now = Date.now();
      const replayed = ids.filter((id) =>
        this.host.sql.dlq.replay(id, now, options.fresh === true),
      ).length;
      if (replayed > 0) this.host.markReadyChanged();
      return replayed;
    });
  }

  async purge(deliveryIds: readonly string[] | 'all'): Promise<number> {
    return this.host.write(() => {
      if (deliveryIds === 'all') return this.host.sql.dlq.purgeAll();
      const ids = deliveryIds.map(parseId).filter((id): id is number => id !== undefined);
      return ids.filter((id) => this.host.sql.dlq.purge(id)).length;
    });
  }
}

function parseId(deliveryId: string): number | undefined {
  return /^\d{1,15}$/.test(deliveryId) ? Number(deliveryId) : undefined;
}

function toDeadLetter(row: DeadRow): DeadLetter {
  return {
    deliveryId: String(row.id),
    subscription: row.sub,
    event: JSON.parse(row.envelope) as AgentdEvent,
    attempts: row.attempt,
    reason: row.reason ?? '',
    errors: row.errors === null ? [] : (JSON.parse(row.errors) as ErrorRecord[]),
    deadAt: new Date(row.finished_at).toISOString(),
  };
}
