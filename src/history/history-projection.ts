// The admin API's history on a NATS bus: a local SQLite file with the embedded store's schema,
// fed by two ordered consumers — every event of the events stream, and the run status changes
// workers publish (run-history-publisher.ts) — so the store's read side answers /api/events,
// /api/runs, lineage and the live stream unchanged. Each batch is one transaction that also
// records how far each stream was read, so a restart resumes there and applies nothing twice.
import type { ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import type Database from 'better-sqlite3';
import { ONLY_HEADER, RESUMES_HEADER } from '../bus/nats/names.js';
import type { NatsStore } from '../bus/nats/nats-store.js';
import { openDatabase } from '../bus/sqlite/schema.js';
import type { AgentdEvent } from '../core/envelope.js';
import type { LiveFeed, RunChange } from '../observe/live-feed.js';
import type { Logger } from '../observe/log.js';
import { decodeHistoryMessage, type HistoryMessage } from './history-message.js';
import { HistoryStatements, POSITION } from './history-sql.js';

export interface HistoryProjectionOptions {
  store: NatsStore;
  /** The SQLite file, e.g. `<dataDir>/nats-history.db`; deleted, it is rebuilt from the streams. */
  path: string;
  /** Rows older than this are pruned, as the streams drop them (0: kept). */
  retentionMs: number;
  /** Gets each applied run change, for GET /api/stream. */
  live?: LiveFeed;
  log: Logger;
}

/** One message read, in stream order; no payload when it is skipped (a copy, or unreadable). */
interface Read<T> {
  seq: number;
  value: T | undefined;
}

/** Messages applied per transaction at most. */
const BATCH = 1_000;
const PRUNE_EVERY_MS = 10 * 60_000;
const RESTART_AFTER_MS = 1_000;

export class HistoryProjection {
  private readonly sql: HistoryStatements;
  private readonly events: Read<{ storedAt: number; event: AgentdEvent }>[] = [];
  private readonly runs: Read<HistoryMessage>[] = [];
  private eventsAt = 0;
  private runsAt = 0;
  /** Messages read since the last flush (run changes held for their event are not counted again). */
  private unflushed = 0;
  private consumers: ConsumerMessages[] = [];
  private flushing: NodeJS.Immediate | undefined;
  private restarting: NodeJS.Timeout | undefined;
  private readonly pruning: NodeJS.Timeout;
  private closed = false;

  private constructor(
    readonly db: Database.Database,
    private readonly options: HistoryProjectionOptions,
  ) {
    this.sql = new HistoryStatements(db);
    this.pruning = setInterval(() => this.prune(Date.now()), PRUNE_EVERY_MS);
    this.pruning.unref();
  }

  /** Opens (or creates) the file and starts reading both streams from where it stopped. */
  static async open(options: HistoryProjectionOptions): Promise<HistoryProjection> {
    const projection = new HistoryProjection(openDatabase(options.path), options);
    try {
      await projection.checkStreams();
      projection.prune(Date.now());
      await projection.start();
    } catch (error) {
      await projection.close();
      throw error;
    }
    return projection;
  }

  /** The last stream sequences applied: events (copies included) and run changes. */
  positions(): { events: number; runs: number } {
    return { events: this.eventsAt, runs: this.runsAt };
  }

  /** Drops what is older than the retention (the streams drop it too). */
  prune(now: number): void {
    if (this.options.retentionMs > 0 && !this.closed)
      this.sql.prune(now - this.options.retentionMs);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    clearInterval(this.pruning);
    clearTimeout(this.restarting);
    await this.stopConsumers();
    if (this.flushing !== undefined) clearImmediate(this.flushing);
    // What was read is kept, so the next start does not read it again.
    this.flush();
    this.closed = true;
    this.db.close();
  }

  /**
   * A stream deleted and made again starts its sequences over: what was read from the old one
   * is dropped (events) or forgotten (the run position) instead of hiding the new one.
   */
  private async checkStreams(): Promise<void> {
    const { jsm, names } = this.options.store;
    const events = (await jsm.streams.info(names.stream)).created;
    const runs = (await jsm.streams.info(names.historyStream)).created;
    this.db.transaction(() => {
      if (this.sql.meta(POSITION.eventsStream) !== events) {
        this.sql.clear();
        this.sql.setPosition(POSITION.events, 0);
        this.sql.setPosition(POSITION.runs, 0);
        this.sql.setPosition(POSITION.eventsStream, events);
      }
      if (this.sql.meta(POSITION.runsStream) !== runs) {
        this.sql.setPosition(POSITION.runs, 0);
        this.sql.setPosition(POSITION.runsStream, runs);
      }
    })();
    this.eventsAt = Number(this.sql.meta(POSITION.events) ?? 0);
    this.runsAt = Number(this.sql.meta(POSITION.runs) ?? 0);
  }

  private async start(): Promise<void> {
    const { names } = this.options.store;
    this.consumers = [
      await this.consume(names.stream, this.eventsAt, (m) => this.readEvent(m)),
      await this.consume(names.historyStream, this.runsAt, (m) => this.readRun(m)),
    ];
  }

  private async consume(
    stream: string,
    after: number,
    read: (m: JsMsg) => void,
  ): Promise<ConsumerMessages> {
    const consumer = await this.options.store.js.consumers.get(stream, {
      deliver_policy: 'by_start_sequence',
      opt_start_seq: after + 1,
    });
    return consumer.consume({ max_messages: BATCH, callback: read });
  }

  private async stopConsumers(): Promise<void> {
    const consumers = this.consumers;
    this.consumers = [];
    await Promise.allSettled(consumers.map((c) => c.close()));
  }

  private readEvent(m: JsMsg): void {
    // A DLQ replay or a parked run's resumed copy is the same event again, not a new one.
    const copy = m.headers?.has(ONLY_HEADER) === true || m.headers?.has(RESUMES_HEADER) === true;
    let event: AgentdEvent | undefined;
    if (!copy) {
      try {
        event = m.json<AgentdEvent>();
      } catch (error) {
        this.options.log.warn(
          { err: error, seq: m.seq },
          'history: an unreadable event is skipped',
        );
      }
    }
    const storedAt = Number(m.timestampNanos / 1_000_000n);
    this.events.push({ seq: m.seq, value: event === undefined ? undefined : { storedAt, event } });
    this.schedule();
  }

  private readRun(m: JsMsg): void {
    this.runs.push({ seq: m.seq, value: decodeHistoryMessage(m.data) });
    this.schedule();
  }

  /** Messages that arrive together are applied together, after the ones already delivered. */
  private schedule(): void {
    if (++this.unflushed >= BATCH) this.flush();
    else this.flushing ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = undefined;
    this.unflushed = 0;
    if (this.closed || (this.events.length === 0 && this.runs.length === 0)) return;
    const changes: RunChange[] = [];
    let eventsAt = this.eventsAt;
    let runsAt = this.runsAt;
    let applied = 0;
    try {
      this.db.transaction(() => {
        for (const read of this.events) {
          if (read.value !== undefined)
            this.sql.addEvent(read.seq, read.value.storedAt, read.value.event);
          eventsAt = read.seq;
        }
        for (const read of this.runs) {
          const m = read.value;
          // A run's event is applied first (it may still be on its way): the run waits for it.
          if (m !== undefined && m.seq > eventsAt) break;
          const run = m === undefined ? undefined : this.sql.applyRun(m);
          if (run !== undefined && m !== undefined && this.options.live?.active === true)
            changes.push({
              runId: String(run.id),
              route: m.route,
              eventId: run.eventId,
              status: m.status,
              attempt: m.attempt,
              at: m.at,
            });
          runsAt = read.seq;
          applied++;
        }
        this.sql.setPosition(POSITION.events, eventsAt);
        this.sql.setPosition(POSITION.runs, runsAt);
      })();
    } catch (error) {
      this.options.log.error({ err: error }, 'history: applying a batch failed; reading again');
      this.restart();
      return;
    }
    this.events.length = 0;
    this.runs.splice(0, applied);
    this.eventsAt = eventsAt;
    this.runsAt = runsAt;
    for (const change of changes) this.options.live?.runChanged(change);
  }

  /** Starts both consumers over from the positions the file holds (after a failed batch). */
  private restart(): void {
    if (this.restarting !== undefined || this.closed) return;
    this.restarting = setTimeout(() => {
      if (this.closed) return;
      void (async () => {
        await this.stopConsumers();
        this.events.length = 0;
        this.runs.length = 0;
        try {
          this.eventsAt = Number(this.sql.meta(POSITION.events) ?? 0);
          this.runsAt = Number(this.sql.meta(POSITION.runs) ?? 0);
          await this.start();
          // Closed meanwhile: close() stopped the consumers that were there, not these.
          if (this.closed) await this.stopConsumers();
          this.restarting = undefined;
        } catch (error) {
          this.options.log.error({ err: error }, 'history: reading the streams again failed');
          this.restarting = undefined;
          this.restart();
        }
      })();
    }, RESTART_AFTER_MS);
  }
}
