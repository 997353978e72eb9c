// The admin API's events and runs queries as schema 2 ran them (before issue 8), kept as the
// baseline bench/admin.ts measures the indexed ones against, on a copy of the same store without
// schema 3's indexes. Only the rows of a page: the summaries built from them are the same.
import type Database from 'better-sqlite3';
import type { EventFilter } from '../src/bus/sqlite/event-search-sql.js';
import type { RunFilter } from '../src/bus/sqlite/run-search-sql.js';
import { STATES_FOR } from '../src/bus/sqlite/run-status-sql.js';
import { compilePattern } from '../src/core/type-pattern.js';

const RARE_STATUSES = new Set(['queued', 'retrying', 'running', 'dead']);

/** Seqs of the page's events, newest first. */
export function legacyEvents(db: Database.Database, filter: EventFilter): number[] {
  const where: string[] = [];
  const params: (string | number)[] = [];
  let match: ((type: string) => boolean) | undefined;
  const add = (sql: string, ...values: (string | number)[]) => {
    where.push(sql);
    params.push(...values);
  };
  if (filter.cursor !== undefined) add('e.seq < ?', filter.cursor);
  if (filter.type !== undefined) {
    if (filter.type.includes('*')) {
      match = compilePattern(filter.type);
      add('+e.type GLOB ?', filter.type.replace(/\*\*?/g, '*'));
    } else add('e.type = ?', filter.type);
  }
  if (filter.key !== undefined) add('e.partitionkey = ?', filter.key);
  if (filter.since !== undefined) add('e.stored_at >= ?', filter.since);
  if (filter.until !== undefined) add('e.stored_at <= ?', filter.until);
  if (filter.status !== undefined) {
    const state = STATES_FOR[filter.status];
    add(
      RARE_STATUSES.has(filter.status)
        ? `e.seq IN (SELECT d.seq FROM deliveries d WHERE ${state})`
        : `EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = e.seq AND (${state}))`,
    );
  }
  if (filter.q !== undefined)
    add('(e.id = ? OR e.type = ? OR e.partitionkey = ?)', filter.q, filter.q, filter.q);
  const rows = db
    .prepare<(string | number)[], { seq: number; type: string }>(
      `SELECT e.seq, e.stored_at, e.type, e.envelope FROM events e
        ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY e.seq DESC`,
    )
    .iterate(...params);
  const seqs: number[] = [];
  for (const row of rows) {
    if (match !== undefined && !match(row.type)) continue;
    if (seqs.length === filter.limit) break;
    seqs.push(row.seq);
  }
  return seqs;
}

/** Ids of the page's runs, newest first. */
export function legacyRuns(db: Database.Database, filter: RunFilter): number[] {
  const where = ['1 = 1'];
  const params: (string | number)[] = [];
  if (filter.cursor !== undefined) {
    where.push('d.id < ?');
    params.push(filter.cursor);
  }
  if (filter.route !== undefined) {
    where.push('d.sub = ?');
    params.push(filter.route);
  }
  if (filter.status !== undefined) where.push(`(${STATES_FOR[filter.status]})`);
  if (filter.eventId !== undefined) {
    where.push('e.id = ?');
    params.push(filter.eventId);
  }
  return db
    .prepare<(string | number)[], { id: number }>(
      `SELECT d.id, d.sub, d.state, d.attempt, d.pkey, d.errors, d.reason, d.created_at,
              d.started_at, d.finished_at, e.type, e.id AS event_id
         FROM deliveries d JOIN events e ON e.seq = d.seq
        WHERE ${where.join(' AND ')} ORDER BY d.id DESC LIMIT ?`,
    )
    .all(...params, filter.limit)
    .map((row) => row.id);
}
