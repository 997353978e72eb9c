// One claimed delivery (or batch) on SQLite: each call settles or renews its own lease, in one
// transaction with whatever it publishes or records. A lease the bus asked to stop (singleton
// 'replace', cancelOn) can only end as cancelled: extend, ack, nack, deadLetter, defer and park
// end it so and throw RunCancelledError; release ends it so quietly; cancel ends it as asked.
import type { AgentdEvent } from '../../core/envelope.js';
import { LeaseLostError, RunCancelledError } from '../../core/errors.js';
import {
  backoffDelay,
  type AckOptions,
  type DeadLetterOptions,
  type Delivery,
  type ErrorRecord,
  type NackOptions,
  type ParkOptions,
  type SubscriptionOptions,
  type WaitRequest,
} from '../bus.js';
import type { RecordedAction } from '../outbox-store.js';
import type { AckBatch } from './ack-batch.js';
import type { BatchMember } from './batch-sql.js';
import type { ClaimedRow } from './claim-sql.js';
import type { SettledRow } from './settle-sql.js';
import type { SqliteStatements } from './sqlite-statements.js';

export interface DeliveryHost {
  readonly sql: SqliteStatements;
  readonly acks: AckBatch;
  now(): number;
  write<T>(fn: () => T): Promise<T>;
  markReadyChanged(): void;
  publishInTxn(events: readonly AgentdEvent[], now: number): void;
  recordActionsInTxn(actions: readonly RecordedAction[], now: number): void;
  /** A lease ended acked, skipped or cancelled: its batch members follow, its key moves on. */
  endedInTxn(
    id: number,
    row: SettledRow,
    state: 'acked' | 'skipped' | 'cancelled',
    reason: string | null,
    batched: boolean,
    now: number,
  ): void;
  /** A lease ended dead: its batch members too, its key moves on, each dead letter announced. */
  deadLetterInTxn(
    row: SettledRow,
    event: AgentdEvent,
    deliveryId: number,
    attempts: number,
    reason: string,
    batched: boolean,
    now: number,
  ): void;
}

interface Cancelled {
  cancelled: string;
}

export class SqliteDelivery implements Delivery {
  readonly deliveryId: string;
  readonly event: AgentdEvent;
  readonly events?: readonly AgentdEvent[];
  readonly key?: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly errors: readonly ErrorRecord[];
  readonly publishedAt: number;
  private readonly id: number;
  /** Steps are memoized under the leader's event for a whole batch. */
  private readonly seq: number;
  private readonly batched: boolean;
  /** The row has a route key, which its ack must clear (settle-sql.ts). */
  private readonly keyed: boolean;
  /** What settling the row needs of it; fixed when it was made. */
  private readonly row: SettledRow;
  /** The leader's own event: a batch's dead letter is announced per row, each with its event. */
  private readonly own: AgentdEvent;

  constructor(
    private readonly host: DeliveryHost,
    readonly subscription: string,
    private readonly options: SubscriptionOptions,
    row: ClaimedRow,
    members: readonly BatchMember[] | undefined,
  ) {
    this.id = row.id;
    this.seq = row.seq;
    this.deliveryId = String(row.id);
    this.attempt = row.attempt;
    this.maxAttempts = options.maxAttempts;
    this.publishedAt = row.created_at;
    this.errors = row.errors === null ? [] : (JSON.parse(row.errors) as ErrorRecord[]);
    const own = JSON.parse(row.envelope) as AgentdEvent;
    this.own = own;
    this.batched = members !== undefined;
    this.keyed = row.rkey !== null;
    this.row = { sub: subscription, seq: row.seq, pkey: row.pkey };
    if (members === undefined) {
      this.event = own;
    } else {
      // The leader is the batch's first row, but a replayed dead letter may lead newer events.
      const all = [{ seq: row.seq, event: own }];
      for (const m of members)
        all.push({ seq: m.seq, event: JSON.parse(m.envelope) as AgentdEvent });
      all.sort((a, b) => a.seq - b.seq);
      this.events = all.map((entry) => entry.event);
      this.event = this.events.at(-1) as AgentdEvent;
    }
    const key = row.rkey ?? (options.key === undefined ? own.partitionkey : undefined);
    if (key !== undefined) this.key = key;
  }

  async ack(options: AckOptions = {}): Promise<void> {
    const state: 'acked' | 'skipped' = options.outcome === 'skipped' ? 'skipped' : 'acked';
    if (!this.batched && !hasRecords(options)) {
      const request = {
        id: this.id,
        attempt: this.attempt,
        state,
        row: this.row,
        keyed: this.keyed,
      };
      if (await this.host.acks.finish(request)) return;
      // Not finished: asked to stop, moved on or failed; settled alone below, which says which.
    }
    const outcome = await this.host.write(() => {
      const now = this.host.now();
      const row = this.host.sql.settle.finish(this.id, this.attempt, state, now, this.keyed);
      if (row === undefined) return this.cancelIfAsked(now);
      this.host.endedInTxn(this.id, row, state, null, this.batched, now);
      this.record(options, now);
      return undefined;
    });
    throwIfCancelled(outcome);
  }

  async park(wait: WaitRequest, options: ParkOptions = {}): Promise<void> {
    const outcome = await this.host.write(() => {
      const now = this.host.now();
      const row = this.host.sql.waits.park(this.id, this.attempt, now);
      if (row === undefined) return this.cancelIfAsked(now);
      this.record(options, now);
      if (this.host.sql.waits.wait(this.id, row, wait, now)) this.host.markReadyChanged();
      return undefined;
    });
    throwIfCancelled(outcome);
  }

  async nack(options: NackOptions = {}): Promise<'retry' | 'dead'> {
    const message = options.error ?? 'nacked without an error message';
    const outcome = await this.host.write((): 'retry' | 'dead' | Cancelled => {
      const now = this.host.now();
      const record = this.errorRecord(message, now);
      if (this.attempt >= this.maxAttempts) {
        const reason = `failed ${this.attempt} of ${this.maxAttempts} attempts; last error: ${message}`;
        const cancelled = this.settleDead(reason, record, now);
        if (cancelled !== undefined) return cancelled;
        this.publish(options.publish, now);
        return 'dead';
      }
      const delay = options.delayMs ?? backoffDelay(this.options.backoff, this.attempt);
      if (!this.host.sql.settle.retry(this.id, this.attempt, now + Math.max(0, delay), record))
        return this.cancelIfAsked(now);
      this.publish(options.publish, now);
      this.host.markReadyChanged();
      return 'retry';
    });
    throwIfCancelled(outcome);
    return outcome as 'retry' | 'dead';
  }

  async deadLetter(reason: string, options: DeadLetterOptions = {}): Promise<void> {
    const outcome = await this.host.write(() => {
      const now = this.host.now();
      const cancelled = this.settleDead(reason, this.errorRecord(reason, now), now);
      if (cancelled === undefined) this.publish(options.publish, now);
      return cancelled;
    });
    throwIfCancelled(outcome);
  }

  async extend(ms?: number): Promise<void> {
    const outcome = await this.host.write(() =>
      this.host.sql.settle.extend(
        this.id,
        this.attempt,
        this.host.now() + (ms ?? this.options.leaseMs),
      ),
    );
    if (outcome === 'lost') throw new LeaseLostError(this.deliveryId);
    if (outcome !== 'extended') throw new RunCancelledError(outcome.cancelled);
  }

  async release(): Promise<void> {
    await this.host.write(() => {
      const now = this.host.now();
      if (this.host.sql.settle.release(this.id, this.attempt, now)) this.host.markReadyChanged();
      else if (this.host.sql.cancels.requested(this.id, this.attempt) !== undefined)
        this.cancelIfAsked(now);
    });
  }

  async defer(delayMs: number, reason: string): Promise<void> {
    const outcome = await this.host.write(() => {
      const now = this.host.now();
      const at = now + Math.max(0, delayMs);
      if (!this.host.sql.settle.defer(this.id, this.attempt, at, `deferred: ${reason}`))
        return this.cancelIfAsked(now);
      this.host.markReadyChanged();
      return undefined;
    });
    throwIfCancelled(outcome);
  }

  async cancel(reason: string, options: DeadLetterOptions = {}): Promise<void> {
    await this.host.write(() => {
      const now = this.host.now();
      const row = this.host.sql.settle.cancel(this.id, this.attempt, reason, now);
      if (row === undefined) throw new LeaseLostError(this.deliveryId);
      this.host.endedInTxn(this.id, row, 'cancelled', reason, this.batched, now);
      this.publish(options.publish, now);
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
      this.host.sql.steps.save(this.subscription, this.seq, name, json, this.host.now()),
    );
  }

  /**
   * Inside a write whose settle statement matched nothing: a lease asked to stop ends cancelled
   * (nothing the call brought is kept); any other lease has passed to another attempt.
   */
  private cancelIfAsked(now: number): Cancelled {
    const reason = this.host.sql.cancels.requested(this.id, this.attempt);
    const row =
      reason === undefined
        ? undefined
        : this.host.sql.settle.cancel(this.id, this.attempt, reason, now);
    if (reason === undefined || row === undefined) throw new LeaseLostError(this.deliveryId);
    this.host.endedInTxn(this.id, row, 'cancelled', reason, this.batched, now);
    return { cancelled: reason };
  }

  private settleDead(reason: string, record: string, now: number): Cancelled | undefined {
    const row = this.host.sql.settle.dead(this.id, this.attempt, reason, record, now);
    if (row === undefined) return this.cancelIfAsked(now);
    this.host.deadLetterInTxn(row, this.own, this.id, this.attempt, reason, this.batched, now);
    return undefined;
  }

  private record(options: AckOptions | ParkOptions, now: number): void {
    this.publish(options.publish, now);
    if (options.actions !== undefined && options.actions.length > 0)
      this.host.recordActionsInTxn(options.actions, now);
  }

  private publish(events: readonly AgentdEvent[] | undefined, now: number): void {
    if (events !== undefined && events.length > 0) this.host.publishInTxn(events, now);
  }

  private errorRecord(error: string, now: number): string {
    return JSON.stringify({ attempt: this.attempt, at: new Date(now).toISOString(), error });
  }
}

function hasRecords(options: AckOptions): boolean {
  return (
    (options.publish !== undefined && options.publish.length > 0) ||
    (options.actions !== undefined && options.actions.length > 0)
  );
}

function throwIfCancelled(outcome: unknown): void {
  if (typeof outcome === 'object' && outcome !== null && 'cancelled' in outcome)
    throw new RunCancelledError((outcome as Cancelled).cancelled);
}
