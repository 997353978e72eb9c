// Pages of events for GET /api/events, newest first, at any size of store. Each filter can name
// an index that lists its events (type: events_type; key: events_pkey; id: events_source_id;
// status: the partial indexes of deliveries; time: a seq range), and one of them drives the page:
// the one whose index holds the fewest rows in the window, found by counting each up to
// PROBE_LIMIT. The other filters are checked on each row it yields, with unary + so SQLite cannot
// pick their index instead. A filter that is not selective walks newest first and meets its rows
// at once; a selective one costs the rows it matches, never a scan of the store.
import type Database from 'better-sqlite3';
import { compilePattern, type TypeMatcher } from '../../core/type-pattern.js';
import { EventById, type EventRow } from './event-by-id-sql.js';
import type { RunStatus } from './inspect-sql.js';
import { STATUS_SOURCES, statusCheck } from './run-status-sql.js';
import { SeqByTime, type SeqWindow } from './seq-by-time-sql.js';
import { StatementCache } from './statement-cache.js';

export interface EventFilter {
  /** Exact type, or a pattern (`a.*`, `a.**`). */
  type?: string;
  /** The partition key. */
  key?: string;
  /** stored_at bounds, ms since the epoch. */
  since?: number;
  until?: number;
  /** Events with at least one run in this status. */
  status?: RunStatus;
  /** An event id, an exact type or a partition key. */
  q?: string;
  cursor?: number;
  limit: number;
}

export type SearchRow = EventRow & { type: string };

type Param = string | number;

/** A term on `events e` that one index answers, with its parameters. */
interface Arm {
  sql: string;
  params: Param[];
}

/**
 * The rows a filter's index holds in the window, as arms whose union is the filter's answer.
 * `sorted`: the index yields them newest first; otherwise SQLite sorts them, so the driver is
 * used only while they are few.
 */
interface Driver {
  arms: Arm[];
  sorted: boolean;
  estimate: () => number;
  /** Its rows all have a run in the status asked for: no need to check each. */
  statusKnown?: boolean;
}

/**
 * Rows a probe counts at most. Above it a filter is broad: walking newest first meets its rows
 * soon (one in ten at 100,000 events), where sorting them all would cost more. Below it, sorting
 * costs about a microsecond a row, a walk with a check per row three.
 */
export const PROBE_LIMIT = 10_000;
/** A pattern matching more distinct types than this is checked on each row, not driven by. */
const MAX_TYPE_ARMS = 32;
/** Distinct types a pattern's lookup walks at most (one seek each). */
const MAX_TYPES_WALKED = 1_000;

const COLUMNS = `SELECT e.seq, e.stored_at, e.type, e.envelope FROM events e`;

export class EventSearch {
  private readonly byId: EventById;
  private readonly seqs: SeqByTime;
  private readonly nextType: Database.Statement<[string], { type: string | null }>;
  private readonly matchers = new Map<string, TypeMatcher>();
  private readonly statements: StatementCache;

  constructor(db: Database.Database) {
    this.statements = new StatementCache(db);
    this.byId = new EventById(db);
    this.seqs = new SeqByTime(db);
    // The distinct types walked through events_type, one seek each.
    this.nextType = db.prepare(`SELECT min(type) AS type FROM events WHERE type > ?`);
    // Patterns match per segment ('*' never crosses a dot), which GLOB cannot say.
    db.function('agentd_type_matches', { deterministic: true }, (pattern, type) =>
      this.matcher(String(pattern))(String(type)) ? 1 : 0,
    );
  }

  /** A page of matching events, newest first, and whether older ones match too. */
  page(filter: EventFilter): { rows: SearchRow[]; more: boolean } {
    const window = this.seqs.window(filter);
    if (window === undefined) return { rows: [], more: false };
    const driver = this.pick(filter, window);
    if (driver === undefined) return { rows: [], more: false };
    const checks = this.checks(
      driver.statusKnown === true ? { ...filter, status: undefined } : filter,
    );
    const rows = this.run(driver.arms, window, checks, filter.limit + 1);
    return { rows: rows.slice(0, filter.limit), more: rows.length > filter.limit };
  }

  /**
   * The driver with the fewest rows in the window; undefined when a filter matches nothing. A
   * lone filter whose index yields newest first needs no count: it beats walking the window.
   */
  private pick(
    filter: EventFilter,
    window: SeqWindow,
  ): Pick<Driver, 'arms' | 'statusKnown'> | undefined {
    const drivers: Driver[] = [];
    const add = (arms: Arm[] | undefined) => {
      if (arms === undefined) return;
      const estimate = () => arms.reduce((sum, arm) => sum + this.probe(arm, window), 0);
      drivers.push({ arms, sorted: true, estimate });
    };
    if (filter.q !== undefined) {
      const ids = this.byId.all(filter.q).map((row) => row.seq);
      add([
        ...(ids.length === 0 ? [] : [inList(ids)]),
        { sql: 'e.type = ?', params: [filter.q] },
        { sql: 'e.partitionkey = ?', params: [filter.q] },
      ]);
    }
    if (filter.key !== undefined) add([{ sql: 'e.partitionkey = ?', params: [filter.key] }]);
    if (filter.type !== undefined) {
      const arms = this.typeArms(filter.type);
      if (arms?.length === 0) return undefined;
      add(arms);
    }
    if (filter.status !== undefined) {
      const sources = STATUS_SOURCES[filter.status];
      if (sources !== undefined) drivers.push(this.statusDriver(sources, window));
    }
    if (drivers.length === 1 && drivers[0]?.sorted === true) return drivers[0];
    const counted = drivers.map((d) => ({ ...d, rows: d.estimate() }));
    counted.push({ arms: [], sorted: true, estimate: () => window.span, rows: window.span });
    const usable = counted.filter((d) => d.sorted || d.rows < PROBE_LIMIT);
    return usable.reduce((best, d) => (d.rows < best.rows ? d : best));
  }

  /** One arm per stored type the pattern matches; undefined when there are too many to list. */
  private typeArms(type: string): Arm[] | undefined {
    if (!type.includes('*')) return [{ sql: 'e.type = ?', params: [type] }];
    // Types that can match start with the pattern's literal segments: walk only those.
    const segments = type.split('.');
    const literal = segments.slice(
      0,
      segments.findIndex((s) => s.includes('*')),
    );
    const prefix = literal.length === 0 ? '' : `${literal.join('.')}.`;
    const match = this.matcher(type);
    const arms: Arm[] = [];
    let next = this.nextType.get(prefix)?.type ?? null;
    for (let walked = 0; next?.startsWith(prefix) === true; walked++) {
      if (walked === MAX_TYPES_WALKED) return undefined;
      if (match(next)) {
        if (arms.length === MAX_TYPE_ARMS) return undefined;
        arms.push({ sql: 'e.type = ?', params: [next] });
      }
      next = this.nextType.get(next)?.type ?? null;
    }
    return arms;
  }

  /** Rows an arm's index holds in the window, counted up to PROBE_LIMIT. */
  private probe(arm: Arm, window: SeqWindow): number {
    return (
      this.statements
        .get<Param[], { n: number }>(
          `SELECT count(*) AS n FROM (SELECT 1 FROM events e
            WHERE ${arm.sql} AND e.seq >= ? AND e.seq < ? LIMIT ?)`,
        )
        .get(...arm.params, window.from, window.below, PROBE_LIMIT)?.n ?? 0
    );
  }

  /**
   * The events with a run in the status, from its partial indexes. Counted on the deliveries
   * side, where LIMIT stops the count early; the IN list itself is built whole, so SQLite can
   * sort it, which is why only a short one drives.
   */
  private statusDriver(sources: readonly string[], window: SeqWindow): Driver {
    // The seq check costs a row lookup per run where the index lacks seq: only when it narrows.
    const inWindow = window.whole
      ? sources
      : sources.map((source) => `${source} AND +d.seq >= ? AND +d.seq < ?`);
    const params = window.whole ? [] : sources.flatMap(() => [window.from, window.below]);
    const union = inWindow.join(' UNION ALL ');
    const count = this.statements.get<Param[], { n: number }>(
      `SELECT count(*) AS n FROM (${union} LIMIT ?)`,
    );
    return {
      arms: [{ sql: `e.seq IN (SELECT seq FROM (${union}))`, params }],
      sorted: false,
      estimate: () => count.get(...params, PROBE_LIMIT)?.n ?? 0,
      statusKnown: true,
    };
  }

  /** Every filter as a check on one row, none of them indexable. */
  private checks(filter: Omit<EventFilter, 'status'> & { status?: RunStatus | undefined }): Arm[] {
    const checks: Arm[] = [];
    if (filter.type !== undefined)
      checks.push(
        filter.type.includes('*')
          ? { sql: 'agentd_type_matches(?, e.type)', params: [filter.type] }
          : { sql: '+e.type = ?', params: [filter.type] },
      );
    if (filter.key !== undefined) checks.push({ sql: '+e.partitionkey = ?', params: [filter.key] });
    if (filter.since !== undefined)
      checks.push({ sql: 'e.stored_at >= ?', params: [filter.since] });
    if (filter.until !== undefined)
      checks.push({ sql: 'e.stored_at <= ?', params: [filter.until] });
    if (filter.status !== undefined)
      checks.push({
        sql: `EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = e.seq AND ${statusCheck(filter.status)})`,
        params: [],
      });
    if (filter.q !== undefined)
      checks.push({
        sql: '(+e.id = ? OR +e.type = ? OR +e.partitionkey = ?)',
        params: [filter.q, filter.q, filter.q],
      });
    return checks;
  }

  /** The newest `limit` rows of the arms' union that pass every check. */
  private run(arms: Arm[], window: SeqWindow, checks: Arm[], limit: number): SearchRow[] {
    const select = (arm: Arm | undefined) => {
      const terms = [...(arm === undefined ? [] : [arm]), ...checks];
      return {
        sql: `${COLUMNS} WHERE e.seq >= ? AND e.seq < ?${terms.map((t) => ` AND ${t.sql}`).join('')}
               ORDER BY e.seq DESC LIMIT ?`,
        params: [window.from, window.below, ...terms.flatMap((t) => t.params), limit],
      };
    };
    const parts = arms.length === 0 ? [select(undefined)] : arms.map(select);
    const only = parts.length === 1 ? parts[0] : undefined;
    // Each arm gives its newest rows in order; UNION merges them and drops an event two arms give.
    const sql =
      only?.sql ??
      `${parts.map((p) => `SELECT * FROM (${p.sql})`).join(' UNION ')} ORDER BY seq DESC LIMIT ?`;
    const params = only?.params ?? [...parts.flatMap((p) => p.params), limit];
    return this.statements.get<Param[], SearchRow>(sql).all(...params);
  }

  private matcher(pattern: string): TypeMatcher {
    let match = this.matchers.get(pattern);
    if (match === undefined) {
      // Patterns come from requests: keep the compiled ones few.
      if (this.matchers.size === 100) this.matchers.clear();
      match = compilePattern(pattern);
      this.matchers.set(pattern, match);
    }
    return match;
  }
}

function inList(seqs: number[]): Arm {
  return { sql: `e.seq IN (${seqs.map(() => '?').join(', ')})`, params: seqs };
}
