// The Quarantine on the embedded store: refused events in the `quarantine` table. A replay checks
// each event again with the gate in force now and, if it passes, publishes it and deletes its row
// in one transaction, so an event is never both published and still quarantined.
import type { AgentdEvent } from '../../core/envelope.js';
import { GateRefusal, type DataIssue, type IngestGate } from '../../core/ingest-gate.js';
import type { PublishResult } from '../bus.js';
import type {
  Quarantine,
  QuarantinedEvent,
  QuarantineFilter,
  QuarantineReplay,
} from '../quarantine.js';
import type { QuarantineRow, QuarantineStatements } from './quarantine-sql.js';

export interface QuarantineHost {
  readonly gate: IngestGate | undefined;
  write<T>(fn: () => T): Promise<T>;
  /** Stores already-admitted events inside the current write (no second check). */
  publishAdmittedInTxn(events: readonly AgentdEvent[], now: number): PublishResult[];
}

export class SqliteQuarantine implements Quarantine {
  constructor(
    private readonly host: QuarantineHost,
    private readonly sql: QuarantineStatements,
  ) {}

  /** Inside a write: records a refused event; a duplicate when (source, id) is already known. */
  addInTxn(event: AgentdEvent, refusal: GateRefusal, now: number): PublishResult {
    const added = this.sql.add(
      event.source,
      event.id,
      event.type,
      refusal.dataschema,
      JSON.stringify(refusal.issues),
      JSON.stringify(event),
      now,
    );
    return added
      ? { id: event.id, source: event.source, duplicate: false, quarantined: true }
      : { id: event.id, source: event.source, duplicate: true };
  }

  async list(filter: QuarantineFilter = {}): Promise<QuarantinedEvent[]> {
    return this.sql.list(filter.type ?? null, filter.limit ?? 100).map(toQuarantined);
  }

  async show(id: string): Promise<QuarantinedEvent | undefined> {
    const n = parseId(id);
    const row = n === undefined ? undefined : this.sql.show(n);
    return row === undefined ? undefined : toQuarantined(row);
  }

  async replay(ids: readonly string[]): Promise<QuarantineReplay> {
    const outcome: QuarantineReplay = { published: [], duplicates: [], refused: [], missing: [] };
    await this.host.write(() => {
      const now = Date.now();
      for (const id of ids) {
        const n = parseId(id);
        const row = n === undefined ? undefined : this.sql.show(n);
        if (row === undefined || n === undefined) {
          outcome.missing.push(id);
          continue;
        }
        const event = JSON.parse(row.envelope) as AgentdEvent;
        const verdict = this.host.gate?.admit(event) ?? event;
        if (verdict instanceof GateRefusal) {
          this.sql.recheck(n, verdict.dataschema, JSON.stringify(verdict.issues), now);
          outcome.refused.push({ id, issues: [...verdict.issues] });
          continue;
        }
        const [result] = this.host.publishAdmittedInTxn([verdict], now);
        this.sql.remove(n);
        (result?.duplicate === true ? outcome.duplicates : outcome.published).push(id);
      }
    });
    return outcome;
  }

  async purge(ids: readonly string[] | 'all'): Promise<number> {
    return this.host.write(() => {
      if (ids === 'all') return this.sql.removeAll();
      return ids.map(parseId).filter((n): n is number => n !== undefined && this.sql.remove(n))
        .length;
    });
  }

  async count(): Promise<number> {
    return this.sql.count();
  }
}

function parseId(id: string): number | undefined {
  return /^\d{1,15}$/.test(id) ? Number(id) : undefined;
}

function toQuarantined(row: QuarantineRow): QuarantinedEvent {
  return {
    id: String(row.id),
    event: JSON.parse(row.envelope) as AgentdEvent,
    dataschema: row.dataschema,
    issues: JSON.parse(row.issues) as DataIssue[],
    quarantinedAt: new Date(row.quarantined_at).toISOString(),
    checkedAt: new Date(row.checked_at).toISOString(),
    checks: row.checks,
  };
}
