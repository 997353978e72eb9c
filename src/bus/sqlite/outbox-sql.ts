// The outbox table's statements. Invariants: an idempotency key is recorded once (unique index);
// only the oldest unfinished action of a run may be sent (a run's actions go out in recorded
// order); a send is settled only by the attempt that claimed it (id, attempt, state = 'sending').
import type Database from 'better-sqlite3';
import type {
  ActionCause,
  ActionFilter,
  ActionState,
  RecordedAction,
  StoredAction,
} from '../outbox-store.js';

interface OutboxRow {
  id: number;
  idem_key: string;
  run_id: string;
  route: string;
  position: string;
  sink: string;
  action: string;
  params: string;
  lane: string | null;
  cause: string;
  state: string;
  attempt: number;
  available_at: number;
  expires_at: number | null;
  result: string | null;
  errors: string | null;
  reason: string | null;
  decided_by: string | null;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
}

/** The states in which an action holds back its run's later actions. */
const OPEN = `('pending', 'sending', 'pending-approval')`;
const FINISHED: readonly ActionState[] = ['done', 'dead', 'rejected', 'expired', 'dry-run'];

export interface OutboxStatements {
  /** Records an action unless its key exists; true when it was new. */
  record(action: RecordedAction, now: number): boolean;
  /** Due actions that head their run, oldest first. */
  candidates(now: number, limit: number): StoredAction[];
  /** Takes a candidate for sending; its new attempt number, or undefined if it moved on. */
  markSending(id: number, leaseUntil: number, now: number): number | undefined;
  complete(id: number, attempt: number, result: string, now: number): boolean;
  retry(id: number, attempt: number, availableAt: number, error: string, now: number): boolean;
  dead(id: number, attempt: number, reason: string, error: string, now: number): boolean;
  recover(now: number, message: string): StoredAction[];
  expireApprovals(now: number): StoredAction[];
  nextDueAt(): number | undefined;
  list(filter: ActionFilter): StoredAction[];
  show(id: number): StoredAction | undefined;
  approve(id: number, by: string, now: number): StoredAction | undefined;
  reject(id: number, by: string, reason: string, now: number): StoredAction | undefined;
  retryDead(id: number, now: number): boolean;
  deadIds(): number[];
  purge(id: number, states: readonly ActionState[]): boolean;
  purgeAll(states: readonly ActionState[]): number;
  /** Deletes finished actions older than the cutoff; returns how many. */
  sweep(cutoff: number, limit: number): number;
}

export function outboxStatements(db: Database.Database): OutboxStatements {
  // Dedup invariant: idem_key is unique; recording it again changes nothing.
  const insert = db.prepare(
    `INSERT INTO outbox (idem_key, run_id, route, position, sink, action, params, lane, cause,
                         state, available_at, expires_at, created_at, updated_at, finished_at)
     VALUES (@key, @runId, @route, @position, @sink, @action, @params, @lane, @cause,
             @state, @now, @expiresAt, @now, @now, @finishedAt)
     ON CONFLICT (idem_key) DO NOTHING`,
  );
  // Run order: an action is claimable only when no older action of its run is still open; a dead,
  // rejected or expired one does not hold the rest back (as a dead letter frees its key).
  const candidates = db.prepare<[number, number], OutboxRow>(
    `SELECT * FROM outbox o
      WHERE o.state = 'pending' AND o.available_at <= ?
        AND NOT EXISTS (SELECT 1 FROM outbox p
                         WHERE p.run_id = o.run_id AND p.id < o.id AND p.state IN ${OPEN})
      ORDER BY o.available_at, o.id LIMIT ?`,
  );
  const markSending = db.prepare<[number, number, number], { attempt: number }>(
    `UPDATE outbox SET state = 'sending', attempt = attempt + 1, lease_until = ?, updated_at = ?
      WHERE id = ? AND state = 'pending' RETURNING attempt`,
  );
  const complete = db.prepare<[string, number, number, number, number]>(
    `UPDATE outbox SET state = 'done', result = ?, finished_at = ?, updated_at = ?, lease_until = NULL
      WHERE id = ? AND attempt = ? AND state = 'sending'`,
  );
  const appendError = `errors = json_insert(coalesce(errors, '[]'), '$[#]', json(?))`;
  const retry = db.prepare<[number, string, number, number, number]>(
    `UPDATE outbox SET state = 'pending', available_at = ?, ${appendError}, updated_at = ?,
                       lease_until = NULL
      WHERE id = ? AND attempt = ? AND state = 'sending'`,
  );
  const dead = db.prepare<[string, string, number, number, number, number]>(
    `UPDATE outbox SET state = 'dead', reason = ?, ${appendError}, finished_at = ?, updated_at = ?,
                       lease_until = NULL
      WHERE id = ? AND attempt = ? AND state = 'sending'`,
  );
  // Only for the one dispatcher of this store, at its start: whoever was sending is gone.
  const recover = db.prepare<[number, string, string, number], OutboxRow>(
    `UPDATE outbox SET state = 'pending', available_at = ?, lease_until = NULL,
                       errors = json_insert(coalesce(errors, '[]'), '$[#]',
                         json_object('attempt', attempt, 'at', ?, 'error', ?)),
                       updated_at = ?
      WHERE state = 'sending' RETURNING *`,
  );
  const expire = db.prepare<[number, number, number], OutboxRow>(
    `UPDATE outbox SET state = 'expired', reason = 'no approval before it expired',
                       finished_at = ?, updated_at = ?
      WHERE state = 'pending-approval' AND expires_at <= ? RETURNING *`,
  );
  const nextDue = db.prepare<[], { at: number | null }>(
    `SELECT min(available_at) AS at FROM outbox WHERE state = 'pending'`,
  );
  const list = db.prepare<
    [
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      string | null,
      number,
    ],
    OutboxRow
  >(
    `SELECT * FROM outbox
      WHERE (? IS NULL OR state = ?) AND (? IS NULL OR sink = ?) AND (? IS NULL OR route = ?)
        AND (? IS NULL OR run_id = ?)
      ORDER BY id DESC LIMIT ?`,
  );
  const show = db.prepare<[number], OutboxRow>(`SELECT * FROM outbox WHERE id = ?`);
  const approve = db.prepare<[number, string, number, number], OutboxRow>(
    `UPDATE outbox SET state = 'pending', available_at = ?, decided_by = ?, updated_at = ?
      WHERE id = ? AND state = 'pending-approval' RETURNING *`,
  );
  const reject = db.prepare<[string, string, number, number, number], OutboxRow>(
    `UPDATE outbox SET state = 'rejected', decided_by = ?, reason = ?, finished_at = ?,
                       updated_at = ?
      WHERE id = ? AND state = 'pending-approval' RETURNING *`,
  );
  // The error history stays: a sink reads it to know that an earlier attempt may have been sent.
  const retryDead = db.prepare<[number, number, number]>(
    `UPDATE outbox SET state = 'pending', attempt = 0, available_at = ?, reason = NULL,
                       finished_at = NULL, updated_at = ?
      WHERE id = ? AND state = 'dead'`,
  );
  const deadIds = db.prepare<[], { id: number }>(`SELECT id FROM outbox WHERE state = 'dead'`);
  const sweep = db.prepare<[number, number], { id: number }>(
    `DELETE FROM outbox WHERE id IN (
       SELECT id FROM outbox WHERE state IN ('done', 'rejected', 'expired', 'dry-run')
          AND finished_at < ? ORDER BY id LIMIT ?) RETURNING id`,
  );
  const inStates = (states: readonly ActionState[]) =>
    states.map((state) => `'${state.replace(/'/g, "''")}'`).join(', ');

  return {
    record(action, now) {
      const state: ActionState =
        action.mode === 'dry-run'
          ? 'dry-run'
          : action.mode === 'approval'
            ? 'pending-approval'
            : 'pending';
      const info = insert.run({
        key: action.key,
        runId: action.runId,
        route: action.route,
        position: action.position,
        sink: action.sink,
        action: action.action,
        params: JSON.stringify(action.params ?? null),
        lane: action.lane ?? null,
        cause: JSON.stringify(action.cause),
        state,
        now,
        expiresAt: action.mode === 'approval' ? (action.expiresAt ?? null) : null,
        finishedAt: state === 'dry-run' ? now : null,
      });
      return info.changes === 1;
    },
    candidates: (now, limit) => candidates.all(now, limit).map(toStored),
    markSending: (id, leaseUntil, now) => markSending.get(leaseUntil, now, id)?.attempt,
    complete: (id, attempt, result, now) =>
      complete.run(result, now, now, id, attempt).changes === 1,
    retry: (id, attempt, availableAt, error, now) =>
      retry.run(availableAt, error, now, id, attempt).changes === 1,
    dead: (id, attempt, reason, error, now) =>
      dead.run(reason, error, now, now, id, attempt).changes === 1,
    recover: (now, message) =>
      recover.all(now, new Date(now).toISOString(), message, now).map(toStored),
    expireApprovals: (now) => expire.all(now, now, now).map(toStored),
    nextDueAt: () => nextDue.get()?.at ?? undefined,
    list(filter) {
      const f = (value: string | undefined) => value ?? null;
      return list
        .all(
          f(filter.state),
          f(filter.state),
          f(filter.sink),
          f(filter.sink),
          f(filter.route),
          f(filter.route),
          f(filter.runId),
          f(filter.runId),
          filter.limit ?? 100,
        )
        .map(toStored);
    },
    show(id) {
      const row = show.get(id);
      return row === undefined ? undefined : toStored(row);
    },
    approve(id, by, now) {
      const row = approve.get(now, by, now, id);
      return row === undefined ? undefined : toStored(row);
    },
    reject(id, by, reason, now) {
      const row = reject.get(by, reason, now, now, id);
      return row === undefined ? undefined : toStored(row);
    },
    retryDead: (id, now) => retryDead.run(now, now, id).changes === 1,
    deadIds: () => deadIds.all().map((row) => row.id),
    purge(id, states) {
      const allowed = states.filter((s) => FINISHED.includes(s));
      if (allowed.length === 0) return false;
      return (
        db.prepare(`DELETE FROM outbox WHERE id = ? AND state IN (${inStates(allowed)})`).run(id)
          .changes === 1
      );
    },
    purgeAll(states) {
      const allowed = states.filter((s) => FINISHED.includes(s));
      if (allowed.length === 0) return 0;
      return db.prepare(`DELETE FROM outbox WHERE state IN (${inStates(allowed)})`).run().changes;
    },
    sweep: (cutoff, limit) => sweep.all(cutoff, limit).length,
  };
}

function toStored(row: OutboxRow): StoredAction {
  return {
    id: String(row.id),
    key: row.idem_key,
    runId: row.run_id,
    route: row.route,
    position: row.position,
    sink: row.sink,
    action: row.action,
    params: JSON.parse(row.params) as unknown,
    ...(row.lane === null ? {} : { lane: row.lane }),
    mode: row.state === 'dry-run' ? 'dry-run' : row.expires_at === null ? 'send' : 'approval',
    ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
    cause: JSON.parse(row.cause) as ActionCause,
    state: row.state as ActionState,
    attempt: row.attempt,
    availableAt: row.available_at,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
    finishedAt: row.finished_at === null ? null : new Date(row.finished_at).toISOString(),
    result: row.result === null ? null : (JSON.parse(row.result) as unknown),
    errors: row.errors === null ? [] : (JSON.parse(row.errors) as StoredAction['errors']),
    reason: row.reason,
    decidedBy: row.decided_by,
  };
}
