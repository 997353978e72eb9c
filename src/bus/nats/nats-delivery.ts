// One delivery handed out by a NatsSubscription, and how it settles: ack (staged events and outbox
// actions), nack with agentd's backoff (-NAK with delay), dead-letter into the DLQ stream (+TERM),
// cancel (+TERM), defer and release (-NAK, no attempt spent), park on a wait (+ACK, key kept),
// extend (+WPI). A delivery is fenced twice: by its local lease deadline, which is never later than
// the server's, and for keyed deliveries by the key lock's delivery count. A run a newer event asked
// to stop (singleton 'replace', cancelOn: route-governor.ts) ends cancelled at its next settle.
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
import type { EventWaits } from './event-waits.js';
import type { JetStreamMsg } from './jetstream-msg.js';
import type { KeyLocks } from './key-lock.js';
import { stepToken } from './names.js';
import type { NatsOutbox } from './nats-outbox.js';
import type { NatsStore } from './nats-store.js';
import {
  EMPTY_RECORD,
  withSkip,
  type RunEnding,
  type RunRecord,
  type RunRecords,
  type Staged,
} from './run-records.js';
import { StepMemo } from './step-memo.js';

/** A message this process holds: being classified, parked behind its key, ready, or handed out. */
export interface Held {
  readonly msg: JetStreamMsg;
  readonly event: AgentdEvent;
  /** The key lock's token when the subscription orders by key and the event has one. */
  readonly keyTok: string | undefined;
  /** The delivery's key (route key or partitionkey, see route-key.ts), if it has one. */
  readonly key: string | undefined;
  /** The run's first message: the message itself, or for a resumed copy the one it continues. */
  readonly runSeq: number;
  /** Set on a parked run's resumed copy: the run it continues (= runSeq). */
  readonly resumes: number | undefined;
  state: 'classifying' | 'parked' | 'ready' | 'out' | 'gone';
  /** Local lease deadline: a little before the server's, so a late settle is refused, not lost. */
  leaseUntil: number;
  record?: RunRecord;
  delivery?: NatsDelivery;
  /** When a parked message last asked its key's lock. */
  checkedAt?: number;
  /** When pull() handed it out, and when its run ended (its settlement began). */
  handedOutAt?: number;
  ranUntil?: number;
  /** Its key was released: the wake-up names the next head, no need to look again here. */
  released?: boolean;
  /** Set when a cancel notice named it while it ran: why it must stop. */
  cancelled?: string;
}

export interface DeliveryHost {
  readonly store: NatsStore;
  readonly name: string;
  readonly subToken: string;
  readonly options: SubscriptionOptions;
  readonly records: RunRecords;
  readonly locks: KeyLocks | undefined;
  readonly leaseMarginMs: number;
  readonly outbox: NatsOutbox;
  readonly waits: EventWaits;
  publishInternal(events: readonly AgentdEvent[]): Promise<void>;
  deadLetter(held: Held, attempts: number, reason: string, errors: ErrorRecord[]): Promise<void>;
  /** The delivery left this process (settled or lost): the next of its key may be looked at. */
  settled(held: Held): void;
  /** The key's head finished: `done` now, the entry at `revision`, `next` its next head (0: none). */
  wake(keyTok: string, done: number, revision: number, next: number): void;
  /** Hands the finishing head's key straight to its next message in this process, if it can. */
  handOff(held: Held): Promise<boolean>;
  /** True when a newer event may ask its runs to stop (singleton 'replace', cancelOn). */
  readonly cancellable: boolean;
  /** Why a running delivery must stop; undefined: it need not. */
  cancelReason(held: Held): Promise<string | undefined>;
}

export class NatsDelivery implements Delivery {
  readonly deliveryId: string;
  readonly subscription: string;
  readonly event: AgentdEvent;
  readonly maxAttempts: number;
  readonly publishedAt: number;
  readonly key?: string;
  private readonly startedAt = Date.now();
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
    this.deliveryId = `${held.runSeq}@${host.name}`;
    this.maxAttempts = host.options.maxAttempts;
    this.publishedAt = held.msg.storedAt;
    if (held.key !== undefined) this.key = held.key;
  }

  async ack(options: AckOptions = {}): Promise<void> {
    await this.settle(async () => {
      // Staged first: from here on the run is finished, whoever completes the settlement.
      const recorded: Staged = {
        events: [...(options.publish ?? [])],
        actions: [...(options.actions ?? [])],
        at: Date.now(),
      };
      // An ack that records nothing has nothing to stage (a repeat of it is harmless).
      const staged =
        recorded.events.length + recorded.actions.length === 0
          ? recorded
          : await this.host.records.stageAck(this.held.runSeq, recorded);
      if (!(await finishAck(this.host, this.held, staged)))
        throw new LeaseLostError(this.deliveryId);
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
      await this.host.records.save(this.held.runSeq, { ...this.record, errors });
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

  /** Ends the run as cancelled: nothing it recorded is kept (nothing was staged), its key moves on. */
  async cancel(reason: string, options: DeadLetterOptions = {}): Promise<void> {
    await this.settle(async () => {
      if (options.publish !== undefined && options.publish.length > 0)
        await this.host.publishInternal(options.publish);
      await this.endCancelled(reason);
    }, 'as asked');
  }

  /** Not now (admission): back after `delayMs`, no attempt spent, its key still held. */
  async defer(delayMs: number, _reason: string): Promise<void> {
    await this.settle(async () => {
      await this.host.records.save(
        this.held.runSeq,
        withSkip(this.record, this.held.msg.seq, this.held.runSeq),
      );
      this.held.msg.nak(Math.max(0, delayMs));
    });
  }

  /**
   * ctx.waitForEvent: the run's message is acked and its key kept (`parked`); the wait entry brings
   * it back as a resumed copy with the outcome memoized. Attempts spent so far carry over.
   */
  async park(wait: WaitRequest, options: ParkOptions = {}): Promise<void> {
    await this.settle(async () => {
      const { held, host } = this;
      const staged = await host.records.stagePark(held.runSeq, stepToken(wait.step), {
        events: [...(options.publish ?? [])],
        actions: [...(options.actions ?? [])],
        at: Date.now(),
      });
      if (
        host.locks !== undefined &&
        held.keyTok !== undefined &&
        (await host.locks.park(held.msg.seq, held.keyTok, held.msg.deliveryCount)) === 0
      )
        throw new LeaseLostError(this.deliveryId);
      // The resumed copy's first delivery is this same attempt (none spent by parking).
      await host.records.save(held.runSeq, {
        errors: [...this.errors],
        base: this.attempt - 1,
        skips: 0,
        seq: 0,
      });
      // Recorded before the wait exists: an action's agentd.action.* event may be what it awaits,
      // and the wait's scan finds events stored since the attempt began.
      await recordStaged(host, staged);
      await host.waits.add({
        subscription: host.name,
        subToken: host.subToken,
        runSeq: held.runSeq,
        step: wait.step,
        type: wait.type,
        ...(wait.match === undefined ? {} : { match: wait.match }),
        ...(wait.deadline === undefined ? {} : { deadline: wait.deadline }),
        event: held.event,
        from: held.msg.seq + 1,
        since: this.startedAt,
      });
      held.msg.ack();
    });
  }

  /** JetStream renews a lease by the consumer's ack wait (the subscription's leaseMs). */
  async extend(): Promise<void> {
    this.assertLeased();
    const cancelled = await this.cancelledReason();
    if (cancelled !== undefined) throw new RunCancelledError(cancelled);
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
      // A run asked to stop ends cancelled, quietly: it would only be cancelled when it came back.
      const cancelled = await this.cancelledReason();
      if (cancelled !== undefined) return await this.endCancelled(cancelled);
      await this.host.records.save(
        this.held.runSeq,
        withSkip(this.record, this.held.msg.seq, this.held.runSeq),
      );
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

  private get record(): RunRecord {
    return this.held.record ?? EMPTY_RECORD;
  }

  private memo(): StepMemo {
    this.steps ??= new StepMemo(this.host.store, this.host.subToken, this.event);
    return this.steps;
  }

  private errorRecord(error: string): ErrorRecord {
    return { attempt: this.attempt, at: new Date().toISOString(), error };
  }

  private async releaseKey(): Promise<void> {
    if (!(await releaseKey(this.host, this.held))) throw new LeaseLostError(this.deliveryId);
  }

  /** Why this run must stop, if its route lets newer events stop runs (no look otherwise). */
  private async cancelledReason(): Promise<string | undefined> {
    return this.host.cancellable ? this.host.cancelReason(this.held) : undefined;
  }

  /** Nothing the run recorded is kept (nothing was staged); the record says why it ended. */
  private async endCancelled(reason: string): Promise<void> {
    const ended: RunEnding = {
      status: 'cancelled',
      reason,
      eventId: this.event.id,
      at: new Date().toISOString(),
    };
    await this.host.records.save(this.held.runSeq, { ...this.record, ended });
    await this.releaseKey();
    this.held.msg.term();
  }

  private assertLeased(): void {
    if (this.done || this.held.state === 'gone' || Date.now() > this.held.leaseUntil)
      throw new LeaseLostError(this.deliveryId);
  }

  /**
   * Runs a settlement once, inside the lease; the delivery leaves this process either way. A run
   * asked to stop (singleton 'replace', cancelOn) ends cancelled instead, and throws
   * RunCancelledError — unless this settlement is the cancel.
   */
  private async settle(fn: () => Promise<void>, cancel?: 'as asked'): Promise<void> {
    this.assertLeased();
    this.done = true;
    this.held.ranUntil = Date.now();
    try {
      const cancelled = cancel === undefined ? await this.cancelledReason() : undefined;
      if (cancelled === undefined) return await fn();
      await this.endCancelled(cancelled);
      throw new RunCancelledError(cancelled);
    } finally {
      this.host.settled(this.held);
    }
  }
}

/**
 * Completes an ack from what was staged: events out (their ids deduplicate a repeat), actions
 * recorded (one per key), key freed, message acked. False when the key was taken over meanwhile.
 */
export async function finishAck(host: DeliveryHost, held: Held, staged: Staged): Promise<boolean> {
  await recordStaged(host, staged);
  if (!(await releaseKey(host, held))) return false;
  held.msg.ack();
  return true;
}

async function recordStaged(host: DeliveryHost, staged: Staged): Promise<void> {
  if (staged.events.length > 0) await host.publishInternal(staged.events);
  if (staged.actions.length > 0) await host.outbox.record(staged.actions, staged.at);
}

/**
 * Frees the delivery's key for its next message; false when it no longer held it. `burst`: a
 * debounced delivery was superseded, the burst goes on (no local handoff: it would end it).
 */
export async function releaseKey(host: DeliveryHost, held: Held, burst?: number): Promise<boolean> {
  const { locks } = host;
  const keyTok = held.keyTok;
  if (locks === undefined || keyTok === undefined) return true;
  if (burst === undefined && (await host.handOff(held))) return true;
  const { revision, next } = await locks.release(
    held.msg.seq,
    keyTok,
    held.msg.deliveryCount,
    burst,
  );
  if (revision === 0) return false;
  held.released = true;
  host.wake(keyTok, held.runSeq, revision, next);
  return true;
}
