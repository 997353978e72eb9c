// The Quarantine contract: events refused at ingest because their `data` broke their type's
// contract. They are stored, never delivered, until replayed (checked again, and published if they
// now pass) or purged. SqliteBus implements it; a NatsBus would keep them in a stream of its own.
import type { AgentdEvent } from '../core/envelope.js';
import type { DataIssue } from '../core/ingest-gate.js';

export interface QuarantinedEvent {
  /** The quarantine's own id (not the event's). */
  id: string;
  event: AgentdEvent;
  /** The contract version the data was checked against, when there was one. */
  dataschema: string | null;
  /** What was wrong the last time it was checked. */
  issues: DataIssue[];
  quarantinedAt: string;
  /** When it was last checked (at ingest, or by a replay that it failed again). */
  checkedAt: string;
  /** How often it was checked: 1 at ingest, plus one per failed replay. */
  checks: number;
}

export interface QuarantineFilter {
  /** Exact event type. */
  type?: string;
  limit?: number;
}

export interface QuarantineReplay {
  /** Passed this time and were published (their routes get them now). */
  published: string[];
  /** Passed, but an event with the same (source, id) had been stored meanwhile: dropped. */
  duplicates: string[];
  /** Still refused; kept with the new issues. */
  refused: { id: string; issues: DataIssue[] }[];
  /** Ids not in the quarantine. */
  missing: string[];
}

export interface Quarantine {
  list(filter?: QuarantineFilter): Promise<QuarantinedEvent[]>;
  show(id: string): Promise<QuarantinedEvent | undefined>;
  /** Checks each again with the contracts in force now; those that pass are published. */
  replay(ids: readonly string[]): Promise<QuarantineReplay>;
  purge(ids: readonly string[] | 'all'): Promise<number>;
  count(): Promise<number>;
}
