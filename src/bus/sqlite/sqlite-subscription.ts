// A subscription's consumer side on SQLite: pull claims leases (waiting for work when there is
// none), and each delivery settles its own lease.
import type { AgentdEvent } from '../../core/envelope.js';
import { LeaseLostError } from '../../core/errors.js';
import {
  backoffDelay,
  type AckOptions,
  type DeadLetterOptions,
  type Delivery,
  type ErrorRecord,
  type NackOptions,
  type ParkOptions,
  type PullOptions,
  type Subscription,
  type SubscriptionOptions,
  type WaitRequest,
} from '../bus.js';
import type { RecordedAction } from '../outbox-store.js';
import type { ClaimedRow } from './claim-sql.js';
import type { SqliteStatements } from './sqlite-bus.js';
import type { SettledRow } from './settle-sql.js';

export interface SubscriptionHost {
  readonly sql: SqliteStatements;
  readonly isClosed: boolean;
  write<T>(fn: () => T): Promise<T>;
  markReadyChanged(): void;
  sweepLeasesIfDue(now: number): void;
  deadLetterInTxn(
    row: SettledRow,
    event: AgentdEvent,
    deliveryId: number,
    attempts: number,
    reason: string,
    now: number,
  ): void;
  nextWakeAt(name: string): number | undefined;
  waitForChange(ms: number, signal: AbortSignal | undefined): Promise<void>;
  publishInTxn(events: readonly AgentdEvent[], now: number): void;
  recordActionsInTxn(actions: readonly RecordedAction[], now: number): void;
}

export class SqliteSubscription implements Subscription {
  constructor(
    private readonly host: SubscriptionHost,
    readonly name: string,
    private readonly options: SubscriptionOptions,
  ) {}

  async pull({ max, waitMs, signal }: PullOptions): Promise<Delivery[]> {
    const deadline = Date.now() + Math.max(0, waitMs);
    for (;;) {
      if (this.host.isClosed || signal?.aborted) return [];
      const rows = await this.host.write(() => {
        const now = Date.now();
        this.host.sweepLeasesIfDue(now);
        return this.host.sql.claims.claim(
          this.name,
          Math.max(1, max),
          now,
          now + this.options.leaseMs,
        );
      });
      if (rows.length > 0)
        return rows.map((row) => new SqliteDelivery(this.host, this.name, this.options, row));
      const now = Date.now();
      if (now >= deadline) return [];
      const wakeAt = Math.min(deadline, this.host.nextWakeAt(this.name) ?? deadline);
      await this.host.waitForChange(wakeAt - now, signal);
    }
  }
}

class SqliteDelivery implements Delivery {
  readonly deliveryId: string;
  readonly event: AgentdEvent;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly errors: readonly ErrorRecord[];
  readonly publishedAt: number;
  private readonly id: number;
  private readonly seq: number;

  constructor(
    private readonly host: SubscriptionHost,
    readonly subscription: string,
    private readonly options: SubscriptionOptions,
    row: ClaimedRow,
  ) {
    this.id = row.id;
    this.seq = row.seq;
    this.deliveryId = String(row.id);
    this.attempt = row.attempt;
    this.maxAttempts = options.maxAttempts;
    this.publishedAt = row.created_at;
    this.errors = row.errors === null ? [] : (JSON.parse(row.errors) as ErrorRecord[]);
    this.event = JSON.parse(row.envelope) as AgentdEvent;
  }

  async ack(options: AckOptions = {}): Promise<void> {
    await this.host.write(() => {
      const now = Date.now();
      const row = this.host.sql.settle.finish(
        this.id,
        this.attempt,
        options.outcome === 'skipped' ? 'skipped' : 'acked',
        now,
      );
      if (row === undefined) throw new LeaseLostError(this.deliveryId);
      if (row.pkey !== null) {
        this.host.sql.keys.advance(row.sub, row.pkey, now);
        this.host.markReadyChanged();
      }
      if (options.publish !== undefined && options.publish.length > 0)
        this.host.publishInTxn(options.publish, now);
      if (options.actions !== undefined && options.actions.length > 0)
        this.host.recordActionsInTxn(options.actions, now);
    });
  }

  async park(wait: WaitRequest, options: ParkOptions = {}): Promise<void> {
    await this.host.write(() => {
      const now = Date.now();
      const row = this.host.sql.waits.park(this.id, this.attempt, now);
      if (row === undefined) throw new LeaseLostError(this.deliveryId);
      if (options.publish !== undefined && options.publish.length > 0)
        this.host.publishInTxn(options.publish, now);
      if (options.actions !== undefined && options.actions.length > 0)
        this.host.recordActionsInTxn(options.actions, now);
      if (this.host.sql.waits.wait(this.id, row, wait, now)) this.host.markReadyChanged();
    });
  }

  async nack(options: NackOptions = {}): Promise<'retry' | 'dead'> {
    const message = options.error ?? 'nacked without an error message';
    return this.host.write(() => {
      const now = Date.now();
      const record = JSON.stringify({
        attempt: this.attempt,
        at: new Date(now).toISOString(),
        error: message,
      });
      if (options.publish !== undefined && options.publish.length > 0)
        this.host.publishInTxn(options.publish, now);
      if (this.attempt >= this.maxAttempts) {
        const reason = `failed ${this.attempt} of ${this.maxAttempts} attempts; last error: ${message}`;
        this.settleDead(reason, record, now);
        return 'dead';
      }
      const delay = options.delayMs ?? backoffDelay(this.options.backoff, this.attempt);
      if (!this.host.sql.settle.retry(this.id, this.attempt, now + Math.max(0, delay), record)) {
        throw new LeaseLostError(this.deliveryId);
      }
      this.host.markReadyChanged();
      return 'retry';
    });
  }

  async deadLetter(reason: string, options: DeadLetterOptions = {}): Promise<void> {
    await this.host.write(() => {
      const now = Date.now();
      const record = JSON.stringify({
        attempt: this.attempt,
        at: new Date(now).toISOString(),
        error: reason,
      });
      if (options.publish !== undefined && options.publish.length > 0)
        this.host.publishInTxn(options.publish, now);
      this.settleDead(reason, record, now);
    });
  }

  async extend(ms?: number): Promise<void> {
    const ok = await this.host.write(() =>
      this.host.sql.settle.extend(this.id, this.attempt, Date.now() + (ms ?? this.options.leaseMs)),
    );
    if (!ok) throw new LeaseLostError(this.deliveryId);
  }

  async release(): Promise<void> {
    await this.host.write(() => {
      if (this.host.sql.settle.release(this.id, this.attempt, Date.now()))
        this.host.markReadyChanged();
    });
  }

  async loadSteps(): Promise<Map<string, unknown>> {
    // A plain read on the writer connection: it sees every committed step, and a run's own
    // steps are saved one after another, so none is still queued.
    return Promise.resolve(this.host.sql.steps.load(this.subscription, this.seq));
  }

  async saveStep(name: string, value: unknown): Promise<unknown> {
    const json = JSON.stringify({ v: value });
    return this.host.write(() =>
      this.host.sql.steps.save(this.subscription, this.seq, name, json, Date.now()),
    );
  }

  private settleDead(reason: string, record: string, now: number): void {
    const row = this.host.sql.settle.dead(this.id, this.attempt, reason, record, now);
    if (row === undefined) throw new LeaseLostError(this.deliveryId);
    this.host.deadLetterInTxn(row, this.event, this.id, this.attempt, reason, now);
  }
}
