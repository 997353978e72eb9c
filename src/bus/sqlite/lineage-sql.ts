// Lineage: the tree an event caused — its runs with their steps, and the events they emitted
// (found through causationid), recursively. Read from one correlation chain, so the queries follow
// the events_correlation, deliveries_seq and steps_seq indexes and never scan history.
import type Database from 'better-sqlite3';
import type { AgentdEvent } from '../../core/envelope.js';
import type { ErrorRecord } from '../bus.js';
import type {
  Lineage,
  LineageEvent,
  LineageRun,
  LineageStep,
  TokenTotals,
} from '../../server/admin-types.js';
import { EventById } from './event-by-id-sql.js';
import { runStatus } from './inspect-sql.js';

export type { Lineage, LineageEvent, LineageRun, LineageStep, TokenTotals };

interface ChainRow {
  seq: number;
  stored_at: number;
  envelope: string;
}

interface RunRow {
  id: number;
  sub: string;
  state: string;
  attempt: number;
  errors: string | null;
  started_at: number | null;
  finished_at: number | null;
}

export const LINEAGE_LIMIT = 5_000;

export class LineageQueries {
  private readonly byId: EventById;
  private readonly chain: Database.Statement<[string, number], ChainRow>;
  private readonly runsOf: Database.Statement<[number], RunRow>;
  private readonly stepsOf: Database.Statement<
    [number],
    { sub: string; name: string; value: string; at: number }
  >;

  constructor(db: Database.Database) {
    this.byId = new EventById(db);
    // events_correlation (correlationid, seq): the whole chain an event belongs to.
    this.chain = db.prepare(
      `SELECT seq, stored_at, envelope FROM events WHERE correlationid = ? ORDER BY seq LIMIT ?`,
    );
    this.runsOf = db.prepare(
      `SELECT id, sub, state, attempt, errors, started_at, finished_at FROM deliveries
        WHERE seq = ? ORDER BY id`,
    );
    this.stepsOf = db.prepare(`SELECT sub, name, value, at FROM steps WHERE seq = ?`);
  }

  /** The tree under the event with this id; undefined when no such event is stored. */
  lineage(eventId: string, limit = LINEAGE_LIMIT): Lineage | undefined {
    const start = this.byId.find(eventId);
    if (start === undefined) return undefined;
    const root = JSON.parse(start.envelope) as AgentdEvent;
    const rows = this.chain.all(root.correlationid, limit + 1);
    const truncated = rows.length > limit;
    const children = new Map<string, ChainRow[]>();
    for (const row of rows.slice(0, limit)) {
      const event = JSON.parse(row.envelope) as AgentdEvent;
      if (event.causationid === undefined) continue;
      const list = children.get(event.causationid) ?? [];
      list.push(row);
      children.set(event.causationid, list);
    }
    let count = 0;
    const seen = new Set<number>();
    const build = (row: ChainRow): LineageEvent => {
      count++;
      seen.add(row.seq);
      const event = JSON.parse(row.envelope) as AgentdEvent;
      const runs = this.runs(row.seq);
      const node: LineageEvent = {
        id: event.id,
        type: event.type,
        source: event.source,
        seq: row.seq,
        storedAt: new Date(row.stored_at).toISOString(),
        runs,
        caused: [],
      };
      for (const childRow of children.get(event.id) ?? []) {
        if (seen.has(childRow.seq)) continue;
        const child = build(childRow);
        const run = creditedRun(runs, childRow);
        (run === undefined ? node.caused : run.emitted).push(child);
      }
      return node;
    };
    return { root: build(start), events: count, truncated };
  }

  private runs(seq: number): LineageRun[] {
    const steps = this.stepsOf.all(seq);
    return this.runsOf.all(seq).map((row) => {
      const errors = row.errors === null ? [] : (JSON.parse(row.errors) as ErrorRecord[]);
      const own = steps
        .filter((s) => s.sub === row.sub)
        .sort((a, b) => a.at - b.at || a.name.localeCompare(b.name, 'en', { numeric: true }));
      let previous = row.started_at;
      let tokens: TokenTotals | undefined;
      const lineageSteps = own.map((s) => {
        const used = modelTokens(s.value);
        if (used !== undefined) {
          tokens ??= { input: 0, output: 0, total: 0, turns: 0 };
          tokens.input += used.input;
          tokens.output += used.output;
          tokens.total += used.total;
          tokens.turns++;
        }
        // Steps of an earlier attempt may predate this attempt's start.
        const tookMs = previous !== null && s.at >= previous ? s.at - previous : null;
        previous = s.at;
        return {
          name: s.name,
          at: new Date(s.at).toISOString(),
          tookMs,
          ...(used === undefined ? {} : { tokens: used.total }),
        };
      });
      return {
        runId: String(row.id),
        route: row.sub,
        status: runStatus(row.state, row.attempt),
        attempt: row.attempt,
        startedAt: row.started_at === null ? null : new Date(row.started_at).toISOString(),
        finishedAt: row.finished_at === null ? null : new Date(row.finished_at).toISOString(),
        durationMs:
          row.started_at !== null && row.finished_at !== null
            ? row.finished_at - row.started_at
            : null,
        lastError: errors.at(-1)?.error ?? null,
        steps: lineageSteps,
        ...(tokens === undefined ? {} : { tokens }),
        emitted: [],
      };
    });
  }
}

/**
 * Which run emitted a child event. Run announcements name their run; an emit is published in the
 * same transaction as its run's ack, so its stored_at equals that run's finished_at. When neither
 * tells one run apart, the child hangs off the event itself.
 */
function creditedRun(runs: LineageRun[], child: ChainRow): LineageRun | undefined {
  const event = JSON.parse(child.envelope) as AgentdEvent;
  const named = (event.data as { runId?: unknown } | undefined)?.runId;
  if (event.type.startsWith('agentd.') && typeof named === 'string')
    return runs.find((r) => r.runId === named);
  if (runs.length === 1) return runs[0];
  const at = new Date(child.stored_at).toISOString();
  const matching = runs.filter((r) => r.finishedAt === at);
  return matching.length === 1 ? matching[0] : undefined;
}

/** Tokens of a stored model turn (the agent loop's `turn-N` steps hold the provider's response). */
function modelTokens(json: string): { input: number; output: number; total: number } | undefined {
  if (!json.includes('"usage"')) return undefined;
  const value = (JSON.parse(json) as { v?: unknown }).v as
    { content?: unknown; usage?: Record<string, unknown> } | undefined;
  const usage = value?.usage;
  if (!Array.isArray(value?.content) || typeof usage !== 'object') return undefined;
  const n = (key: string) => (typeof usage[key] === 'number' ? usage[key] : 0);
  const input = n('inputTokens') + n('cacheReadTokens') + n('cacheWriteTokens');
  const output = n('outputTokens');
  return { input, output, total: input + output };
}
