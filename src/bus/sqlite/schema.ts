// Opens the embedded store: one file in WAL mode, created or migrated on open.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrate } from './migrate.js';

export type Durability = 'process' | 'power';

export interface OpenOptions {
  /** 'process' (default): survives kill -9 of agentd. 'power': also survives power loss (slower). */
  durability?: Durability;
  readonly?: boolean;
}

// 2: route keys and the governor (subscriptions.governor/vt, deliveries.rkey/vt/batch, fair_keys,
// open_batches, debounce_bursts). 3: indexes for the admin API's filters (events_pkey,
// deliveries_sub, deliveries_ended). Older files are migrated on open (migrate.ts).
export const SCHEMA_VERSION = 3;

// Each table states the invariant it keeps; the statements that keep it live in the files beside.
const SCHEMA = `
-- Every event ever accepted, in publish order (seq). (source, id) is unique: a second publish of
-- the same pair is a duplicate and is dropped.
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  id TEXT NOT NULL,
  type TEXT NOT NULL,
  partitionkey TEXT,
  correlationid TEXT NOT NULL,
  stored_at INTEGER NOT NULL,
  envelope TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS events_source_id ON events(source, id);
CREATE INDEX IF NOT EXISTS events_type ON events(type, seq);
CREATE INDEX IF NOT EXISTS events_correlation ON events(correlationid, seq);
-- The admin API's key filter, newest first; events without a key are left out, so they cost
-- nothing to publish.
CREATE INDEX IF NOT EXISTS events_pkey ON events(partitionkey, seq) WHERE partitionkey IS NOT NULL;

-- One row per route. Only active subscriptions receive new deliveries. governor holds the options
-- fan-out applies (key, fairness, singleton, cancelOn, debounce, batch; governor-spec.ts) as JSON,
-- so every process publishing into this file fans out alike. vt is the fair-queuing clock.
CREATE TABLE IF NOT EXISTS subscriptions (
  name TEXT PRIMARY KEY,
  types TEXT NOT NULL,
  ordering TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  updated_at INTEGER NOT NULL,
  governor TEXT,
  vt REAL NOT NULL DEFAULT 0
);

-- One row per (subscription, event): its state machine is
--   waiting -> ready -> leased -> acked | skipped | dead (-> replayed) | cancelled
--                ^--------'  (nack, lease expiry, release, defer)
-- 'waiting' rows sit behind the head of their partition key. leased -> parked -> ready: a run
-- waiting for an event (ctx.waitForEvent); a parked head keeps its key. A queued (waiting, ready,
-- parked) row may also end at once as 'cancelled' (singleton 'replace', cancelOn) or 'skipped'
-- (singleton 'skip', debounce), with its reason; a leased one only gets its reason set (claims
-- clear it, so a leased row has one only while asked to stop) and ends as 'cancelled' when its
-- holder settles it. 'batched' rows are members of the batch whose
-- first row (the leader) is the batch column: they follow the leader into its terminal state.
-- pkey is the ordering key (null with ordering 'none'); rkey the route key governed
-- subscriptions are keyed by (null on plain ones: Delivery.key falls back to the partitionkey).
-- rkey and batch are cleared when a row finishes: only unfinished rows keep them.
CREATE TABLE IF NOT EXISTS deliveries (
  id INTEGER PRIMARY KEY,
  sub TEXT NOT NULL,
  seq INTEGER NOT NULL,
  pkey TEXT,
  state TEXT NOT NULL,
  available_at INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  lease_until INTEGER,
  errors TEXT,
  reason TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  rkey TEXT,
  vt REAL,
  batch INTEGER
);
CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries(sub, available_at, id) WHERE state = 'ready';
CREATE INDEX IF NOT EXISTS deliveries_leased ON deliveries(lease_until) WHERE state = 'leased';
CREATE INDEX IF NOT EXISTS deliveries_waiting ON deliveries(sub, pkey, id) WHERE state = 'waiting';
CREATE INDEX IF NOT EXISTS deliveries_dead ON deliveries(sub, id) WHERE state = 'dead';
CREATE INDEX IF NOT EXISTS deliveries_seq ON deliveries(seq);
CREATE INDEX IF NOT EXISTS deliveries_finished ON deliveries(finished_at)
  WHERE state IN ('acked', 'skipped', 'replayed');
-- The admin API: runs of one route newest first, and the rare final states (the other run
-- statuses have a partial index above, or the waits table). A row enters deliveries_ended only
-- when it ends that way, so claims and acks never touch it.
CREATE INDEX IF NOT EXISTS deliveries_sub ON deliveries(sub, id);
CREATE INDEX IF NOT EXISTS deliveries_ended ON deliveries(state, sub)
  WHERE state IN ('skipped', 'cancelled', 'replayed');
-- Partial indexes for the governor. Each names in its WHERE only columns the hot path (claim,
-- ack) leaves alone or tests cheaply first, so plain subscriptions pay next to nothing for them.
-- Fair claims: ready rows of a fair subscription in virtual-time order (fair-sql.ts).
CREATE INDEX IF NOT EXISTS deliveries_fair ON deliveries(sub, vt, id)
  WHERE vt IS NOT NULL AND state = 'ready';
-- Unfinished rows by route key (singleton, cancelOn, debounce): rkey is set only on governed
-- rows and cleared when they finish, so this holds exactly the unfinished governed rows.
CREATE INDEX IF NOT EXISTS deliveries_keyed ON deliveries(sub, rkey, id) WHERE rkey IS NOT NULL;
-- Batch members; batch is cleared when they finish, so this holds exactly the unfinished ones.
CREATE INDEX IF NOT EXISTS deliveries_batch ON deliveries(batch, sub) WHERE batch IS NOT NULL;

-- Start-time fair queuing: the virtual time of the newest delivery enqueued per (subscription,
-- route key). A row whose vt the subscription's clock has passed says nothing and is dropped.
CREATE TABLE IF NOT EXISTS fair_keys (
  sub TEXT NOT NULL,
  rkey TEXT NOT NULL,
  vt REAL NOT NULL,
  PRIMARY KEY (sub, rkey)
) WITHOUT ROWID;

-- When the current burst of a debounced (subscription, route key) began: kept while the burst's
-- newest delivery has not started, so a restart mid-burst still caps it at maxWaitMs. A row whose
-- key has no unfinished delivery is stale (the next event starts a burst) and is swept.
CREATE TABLE IF NOT EXISTS debounce_bursts (
  sub TEXT NOT NULL,
  rkey TEXT NOT NULL,
  first_at INTEGER NOT NULL,
  PRIMARY KEY (sub, rkey)
) WITHOUT ROWID;

-- The batch new deliveries of (subscription, group) join: at most one per group, and only while
-- its leader has never been claimed and it holds fewer than maxSize rows (batch-sql.ts).
CREATE TABLE IF NOT EXISTS open_batches (
  sub TEXT NOT NULL,
  gkey TEXT NOT NULL,
  leader INTEGER NOT NULL,
  size INTEGER NOT NULL,
  PRIMARY KEY (sub, gkey)
) WITHOUT ROWID;

-- A row exists exactly while a (subscription, key) has an unfinished delivery; head is the oldest
-- one, the only one of its key that may be ready or leased.
CREATE TABLE IF NOT EXISTS key_heads (
  sub TEXT NOT NULL,
  pkey TEXT NOT NULL,
  head INTEGER NOT NULL,
  PRIMARY KEY (sub, pkey)
) WITHOUT ROWID;

-- Memoized step results per (subscription, event): a redelivery resumes after the last one.
CREATE TABLE IF NOT EXISTS steps (
  sub TEXT NOT NULL,
  seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (sub, seq, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS steps_seq ON steps(seq);

-- Small durable facts (daemon heartbeat, sweep marks).
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- A parked delivery's wait (ctx.waitForEvent), one per delivery while it is parked. A published
-- event of its type that matches its pattern, or the deadline passing, memoizes the outcome as the step
-- and makes the delivery ready again, in the same transaction (wait-sql.ts).
CREATE TABLE IF NOT EXISTS waits (
  delivery INTEGER PRIMARY KEY,
  sub TEXT NOT NULL,
  seq INTEGER NOT NULL,
  step TEXT NOT NULL,
  type TEXT NOT NULL,
  match TEXT,
  deadline INTEGER,
  created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS waits_type ON waits(type);
CREATE INDEX IF NOT EXISTS waits_deadline ON waits(deadline) WHERE deadline IS NOT NULL;

-- Outbox actions, recorded with their run's ack or park. idem_key is unique: a re-run records
-- the same keys, and they are dropped. States (outbox-sql.ts):
--   pending -> sending -> done | pending (retry later) | dead (-> pending: retried by hand)
--   pending-approval -> pending (approved) | rejected | expired;   dry-run is final.
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY,
  idem_key TEXT NOT NULL,
  run_id TEXT NOT NULL,
  route TEXT NOT NULL,
  position TEXT NOT NULL,
  sink TEXT NOT NULL,
  action TEXT NOT NULL,
  params TEXT NOT NULL,
  lane TEXT,
  cause TEXT NOT NULL,
  state TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  available_at INTEGER NOT NULL,
  lease_until INTEGER,
  expires_at INTEGER,
  result TEXT,
  errors TEXT,
  reason TEXT,
  decided_by TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS outbox_key ON outbox(idem_key);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(available_at, id) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS outbox_open ON outbox(run_id, id)
  WHERE state IN ('pending', 'sending', 'pending-approval');
CREATE INDEX IF NOT EXISTS outbox_approval ON outbox(expires_at) WHERE state = 'pending-approval';
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, id);

-- Each source's own durable facts (a schedule's last fired slot), kept apart by source name.
-- Retention never deletes them: they are what lets a restart carry on where the last run stopped.
CREATE TABLE IF NOT EXISTS source_state (
  source TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (source, key)
) WITHOUT ROWID;
`;

export function openDatabase(path: string, options: OpenOptions = {}): Database.Database {
  if (path !== ':memory:' && !options.readonly) mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { readonly: options.readonly ?? false, timeout: 10_000 });
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.durability === 'power' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = OFF');
    db.pragma('temp_store = MEMORY');
    db.pragma('cache_size = -32000');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      db.close();
      throw new Error(
        `${path} was written by a newer agentd (schema ${version}, this one knows ${SCHEMA_VERSION})`,
      );
    }
    if (version < SCHEMA_VERSION) migrate(db);
    // One transaction: an index built over a big old store (schema 3's) either lands whole with
    // the new version or not at all, and a second process opening meanwhile waits, then finds it.
    db.transaction(() => {
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    }).immediate();
  }
  return db;
}
