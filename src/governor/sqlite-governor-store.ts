// The governor's state in the embedded store: tables of its own in the bus's database, written
// through the bus's group commit (so a write resolves once durable) and read on its connection,
// which sees what the CLI (agentd pause/resume) commits from another process.
import type { SqliteBus } from '../bus/sqlite/sqlite-bus.js';
import type {
  BudgetLift,
  GovernorControls,
  GovernorStore,
  PauseRecord,
  SweepCutoffs,
  ThresholdMark,
  UsageAmount,
  WindowRef,
} from './governor-store.js';
import { NO_USAGE, roundUsd } from './governor-store.js';

// Created here, not in the bus's schema: the governor owns these tables and their meaning.
const SCHEMA = `
  -- One row per (scope, window): a scope's usage adds up across runs and workers.
  CREATE TABLE IF NOT EXISTS governor_usage (
    scope TEXT NOT NULL,
    window TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    cost_usd REAL NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, window, window_start)
  ) WITHOUT ROWID;
  -- A row exists once its threshold was announced in that window: announced at most once.
  CREATE TABLE IF NOT EXISTS governor_marks (
    scope TEXT NOT NULL,
    window TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    unit TEXT NOT NULL,
    fraction REAL NOT NULL,
    marked_at INTEGER NOT NULL,
    PRIMARY KEY (scope, window, window_start, unit, fraction)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS governor_pauses (
    route TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    paused_by TEXT NOT NULL,
    paused_at INTEGER NOT NULL
  );
  CREATE TABLE IF NOT EXISTS governor_lifts (
    scope TEXT PRIMARY KEY,
    until INTEGER NOT NULL,
    lifted_by TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS governor_chains (
    correlationid TEXT PRIMARY KEY,
    runs INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS governor_chains_by_age ON governor_chains (updated_at);
`;

type Ref = [scope: string, window: string, start: number];
type Totals = { tokens: number; cost_usd: number };
const refOf = (r: WindowRef): Ref => [r.scope, r.window, r.start];

function statements(db: SqliteBus['db']) {
  return {
    addUsage: db.prepare<[...Ref, number, number, number], Totals>(
      `INSERT INTO governor_usage (scope, window, window_start, tokens, cost_usd, updated_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (scope, window, window_start) DO UPDATE SET
         tokens = tokens + excluded.tokens, cost_usd = cost_usd + excluded.cost_usd,
         updated_at = excluded.updated_at
       RETURNING tokens, cost_usd`,
    ),
    usage: db.prepare<Ref, Totals>(
      `SELECT tokens, cost_usd FROM governor_usage
        WHERE scope = ? AND window = ? AND window_start = ?`,
    ),
    mark: db.prepare<[...Ref, string, number, number]>(
      `INSERT OR IGNORE INTO governor_marks
         (scope, window, window_start, unit, fraction, marked_at) VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    marks: db.prepare<Ref, { unit: 'tokens' | 'usd'; fraction: number }>(
      `SELECT unit, fraction FROM governor_marks
        WHERE scope = ? AND window = ? AND window_start = ?`,
    ),
    pauses: db.prepare<[], { route: string; reason: string; paused_by: string; paused_at: number }>(
      `SELECT route, reason, paused_by, paused_at FROM governor_pauses ORDER BY route`,
    ),
    lifts: db.prepare<[], { scope: string; until: number; lifted_by: string }>(
      `SELECT scope, until, lifted_by FROM governor_lifts ORDER BY scope`,
    ),
    // Pausing again replaces the reason: the latest word of an operator counts.
    pause: db.prepare<[string, string, string, number]>(
      `INSERT INTO governor_pauses (route, reason, paused_by, paused_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (route) DO UPDATE SET reason = excluded.reason,
         paused_by = excluded.paused_by, paused_at = excluded.paused_at`,
    ),
    unpause: db.prepare<[string]>(`DELETE FROM governor_pauses WHERE route = ?`),
    lift: db.prepare<[string, number, string]>(
      `INSERT INTO governor_lifts (scope, until, lifted_by) VALUES (?, ?, ?)
       ON CONFLICT (scope) DO UPDATE SET until = excluded.until, lifted_by = excluded.lifted_by`,
    ),
    countChain: db.prepare<[string, number], { runs: number }>(
      `INSERT INTO governor_chains (correlationid, runs, updated_at) VALUES (?, 1, ?)
       ON CONFLICT (correlationid) DO UPDATE SET runs = runs + 1, updated_at = excluded.updated_at
       RETURNING runs`,
    ),
    sweepUsage: db.prepare<[number]>(`DELETE FROM governor_usage WHERE window_start < ?`),
    sweepMarks: db.prepare<[number]>(`DELETE FROM governor_marks WHERE window_start < ?`),
    sweepChains: db.prepare<[number]>(`DELETE FROM governor_chains WHERE updated_at < ?`),
    sweepLifts: db.prepare<[number]>(`DELETE FROM governor_lifts WHERE until <= ?`),
  };
}

export class SqliteGovernorStore implements GovernorStore {
  private readonly sql: ReturnType<typeof statements>;

  private constructor(private readonly bus: SqliteBus) {
    this.sql = statements(bus.db);
  }

  /** Creates the governor's tables when missing. */
  static async open(bus: SqliteBus): Promise<SqliteGovernorStore> {
    await bus.write(() => bus.db.exec(SCHEMA));
    return new SqliteGovernorStore(bus);
  }

  async addUsage(ref: WindowRef, usage: UsageAmount, now: number): Promise<UsageAmount> {
    const row = await this.bus.write(() =>
      this.sql.addUsage.get(...refOf(ref), Math.round(usage.tokens), usage.costUsd, now),
    );
    return totals(row);
  }

  async usage(ref: WindowRef): Promise<UsageAmount> {
    return totals(this.sql.usage.get(...refOf(ref)));
  }

  async markThreshold(mark: ThresholdMark, now: number): Promise<boolean> {
    return this.bus.write(
      () => this.sql.mark.run(...refOf(mark), mark.unit, mark.fraction, now).changes === 1,
    );
  }

  async thresholdMarks(ref: WindowRef): Promise<ThresholdMark[]> {
    return this.sql.marks
      .all(...refOf(ref))
      .map((row) => ({ ...ref, unit: row.unit, fraction: row.fraction }));
  }

  async controls(): Promise<GovernorControls> {
    return {
      pauses: this.sql.pauses
        .all()
        .map((r) => ({ route: r.route, reason: r.reason, by: r.paused_by, at: r.paused_at })),
      lifts: this.sql.lifts.all().map((r) => ({ scope: r.scope, until: r.until, by: r.lifted_by })),
    };
  }

  async pause(record: PauseRecord): Promise<void> {
    await this.bus.write(() =>
      this.sql.pause.run(record.route, record.reason, record.by, record.at),
    );
  }

  async unpause(route: string): Promise<boolean> {
    return this.bus.write(() => this.sql.unpause.run(route).changes === 1);
  }

  async liftBudget(lift: BudgetLift): Promise<void> {
    await this.bus.write(() => this.sql.lift.run(lift.scope, lift.until, lift.by));
  }

  async countChainRun(correlationId: string, now: number): Promise<number> {
    const row = await this.bus.write(() => this.sql.countChain.get(correlationId, now));
    return row?.runs ?? 1;
  }

  async sweep({ windowsBefore, chainsBefore, now }: SweepCutoffs): Promise<number> {
    return this.bus.write(
      () =>
        this.sql.sweepUsage.run(windowsBefore).changes +
        this.sql.sweepMarks.run(windowsBefore).changes +
        this.sql.sweepChains.run(chainsBefore).changes +
        this.sql.sweepLifts.run(now).changes,
    );
  }
}

function totals(row: Totals | undefined): UsageAmount {
  return row === undefined ? NO_USAGE : { tokens: row.tokens, costUsd: roundUsd(row.cost_usd) };
}
