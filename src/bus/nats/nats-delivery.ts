// One delivery handed out by a NatsSubscription, and how it settles: ack (+ staged emits), nack
// with agentd's backoff (-NAK with delay), dead-letter into the DLQ stream (+TERM), extend (+WPI),
// release. A delivery is fenced twice: by its local lease deadline, which is never later than the
// server's, and for keyed deliveries by the key lock's delivery count.
import type { AgentdEvent } from '../../core/envelope.js';
import { LeaseLostError } from '../../core/errors.js';
import {
  backoffDelay,
  type AckOptions,
  type DeadLetterOptions,
  type Delivery,
  type ErrorRecord,
  type NackOptions,
  type SubscriptionOptions,
} from '../bus.js';
import type { JetStreamMsg } from './jetstream-msg.js';
import type { KeyLocks } from './key-lock.js';
import type { NatsStore } from './nats-store.js';
import type { RunRecord, RunRecords } from './run-records.js';
import { StepMemo } from './step-memo.js';

/** A message this process holds: being classified, parked behind its key, ready, or handed out. */
export interface Held {
  readonly msg: JetStreamMsg;
  readonly event: AgentdEvent;
  /** The key's token when the subscription orders by key and the event has one. */
  readonly keyTok: string | undefined;
  state: 'classifying' | 'parked' | 'ready' | 'out' | 'gone';
  /** Local lease deadline: a little before the server's, so a late settle is refused, not lost. */
  leaseUntil: number;
  record?: RunRecord;
  delivery?: NatsDelivery;
  /** When a parked message last asked its key's lock. */
  checkedAt?: number;
  /** Its key was released: the wake-up names the next head, no need to look again here. */
  released?: boolean;
}

export interface DeliveryHost {
  readonly store: NatsStore;
  readonly name: string;
  readonly subToken: string;
  readonly options: SubscriptionOptions;
  readonly records: RunRecords;
  readonly locks: KeyLocks | undefined;
  readonly leaseMarginMs: number;
  publishInternal(events: readonly AgentdEvent[]): Promise<void>;
  deadLetter(held: Held, attempts: number, reason: string, errors: ErrorRecord[]): Promise<void>;
  /** The delivery left this process (settled or lost): the next of its key may be looked at. */
  settled(held: Held): void;
  /** The key's head `done` finished; the lock entry is at `revision` now. */
  wake(keyTok: string, done: number, revision: number): void;
}

export class NatsDelivery implements Delivery {
  readonly deliveryId: string;
  readonly subscription: string;
  readonly event: AgentdEvent;
  readonly maxAttempts: number;
  readonly publishedAt: number;
  private steps: StepMemo | undefined;
  private done = false;

  constructor(
    private readonly host: DeliveryHost,
    private readonly held: Held,
    readonly attempt: number,
    readonly errors: readonly ErrorRecord[],
  ) {
    this.subscription = host.name;
    this.event = held.event;
    this.deliveryId = `${held.msg.seq}@${host.name}`;
    this.maxAttempts = host.options.maxAttempts;
    this.publishedAt = held.msg.storedAt;
  }

  async ack(options: AckOptions = {}): Promise<void> {
    // Never dropped silently: the NATS bus has no outbox store (yet), so it cannot record them.
    if ((options as { actions?: readonly unknown[] }).actions?.length)
      throw new Error('the NATS bus cannot record outbox actions yet (no outbox store)');
    await this.settle(async () => {
      const publish = options.publish ?? [];
      if (publish.length > 0)
        await this.host.publishInternal(
          await this.host.records.stageEmits(this.held.msg.seq, publish),
        );
      await this.releaseKey();
      this.held.msg.ack();
    });
  }

  async nack(options: NackOptions = {}): Promise<'retry' | 'dead'> {
    const message = options.error ?? 'nacked without an error message';
    let outcome: 'retry' | 'dead' = 'retry';
    await this.settle(async () => {
      const errors = [...this.errors, this.errorRecord(message)];
      if (options.publish !== undefined && options.publish.length > 0)
        await this.host.publishInternal(options.publish);
      if (this.attempt >= this.maxAttempts) {
        outcome = 'dead';
        const reason = `failed ${this.attempt} of ${this.maxAttempts} attempts; last error: ${message}`;
        await this.host.deadLetter(this.held, this.attempt, reason, errors);
        await this.releaseKey();
        this.held.msg.term();
        return;
      }
      await this.host.records.save(this.held.msg.seq, { skips: this.skips, errors });
      // A keyed delivery keeps its key while it waits for the retry (strict order).
      this.held.msg.nak(
        Math.max(0, options.delayMs ?? backoffDelay(this.host.options.backoff, this.attempt)),
      );
    });
    return outcome;
  }

  async deadLetter(reason: string, options: DeadLetterOptions = {}): Promise<void> {
    await this.settle(async () => {
      if (options.publish !== undefined && options.publish.length > 0)
        await this.host.publishInternal(options.publish);
      await this.host.deadLetter(this.held, this.attempt, reason, [
        ...this.errors,
        this.errorRecord(reason),
      ]);
      await this.releaseKey();
      this.held.msg.term();
    });
  }

  /** JetStream renews a lease by the consumer's ack wait (the subscription's leaseMs). */
  async extend(): Promise<void> {
    this.assertLeased();
    // While NATS is away the lease cannot be renewed; the local deadline decides when it is lost.
    if (!this.host.store.connected) return;
    const sentAt = Date.now();
    this.held.msg.working();
    await this.host.store.nc.flush();
    this.held.leaseUntil = sentAt + this.host.options.leaseMs - this.host.leaseMarginMs;
  }

  async release(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.host.records.save(this.held.msg.seq, {
        skips: this.skips + 1,
        errors: [...this.errors],
      });
      this.held.msg.nak();
    } finally {
      this.host.settled(this.held);
    }
  }

  async loadSteps(): Promise<Map<string, unknown>> {
    return this.memo().load();
  }

  async saveStep(name: string, value: unknown): Promise<unknown> {
    return this.memo().save(name, value);
  }

  private get skips(): number {
    return this.held.record?.skips ?? 0;
  }

  private memo(): StepMemo {
    this.steps ??= new StepMemo(this.host.store, this.host.subToken, this.event);
    return this.steps;
  }

  private errorRecord(error: string): ErrorRecord {
    return { attempt: this.attempt, at: new Date().toISOString(), error };
  }

  private async releaseKey(): Promise<void> {
    const { locks } = this.host;
    const keyTok = this.held.keyTok;
    if (locks === undefined || keyTok === undefined) return;
    const revision = await locks.release(this.held.msg.seq, keyTok, this.held.msg.deliveryCount);
    if (revision === 0) throw new LeaseLostError(this.deliveryId);
    this.held.released = true;
    this.host.wake(keyTok, this.held.msg.seq, revision);
  }

  private assertLeased(): void {
    if (this.done || this.held.state === 'gone' || Date.now() > this.held.leaseUntil)
      throw new LeaseLostError(this.deliveryId);
  }

  /** Runs a settlement once, inside the lease; the delivery leaves this process either way. */
  private async settle(fn: () => Promise<void>): Promise<void> {
    this.assertLeased();
    this.done = true;
    try {
      await fn();
    } finally {
      this.host.settled(this.held);
    }
  }
}
