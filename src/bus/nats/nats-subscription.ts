// A subscription's consumer side on NATS: messages from the route's durable consumer (see
// pull-consumer.ts) are admitted here — skipped if it is not for this route, parked behind an older
// delivery of its key, governed by the route's singleton, cancelOn and debounce (route-governor.ts),
// held back until a delayed time, or made ready for pull() to hand out.
// Parked and ready messages keep their leases alive (+WPI) until they run or this process stops.
import type { Subscription as CoreSubscription } from '@nats-io/transport-node';
import type { AgentdEvent } from '../../core/envelope.js';
import { compilePatterns } from '../../core/type-pattern.js';
import type {
  CancelListener,
  ErrorRecord,
  PullOptions,
  Subscription,
  SubscriptionOptions,
} from '../bus.js';
import type { EventWaits } from './event-waits.js';
import type { GovernedRoute } from './governed-route.js';
import type { JetStreamMsg } from './jetstream-msg.js';
import { KeyLocks } from './key-lock.js';
import type { KeyMarksStore } from './key-marks.js';
import { KeyQueue, RECHECK_MS } from './key-queue.js';
import { ChangeSignal } from './change-signal.js';
import { renewHeldLeases } from './lease-keeper.js';
import { ONLY_HEADER, RESUMES_HEADER, type Names } from './names.js';
import { endUnrun, prepareHeld } from './held-preparation.js';
import type { DeliveryHost, Held, NatsDelivery } from './nats-delivery.js';
import type { NatsOutbox } from './nats-outbox.js';
import type { NatsStore } from './nats-store.js';
import { PullConsumer } from './pull-consumer.js';
import { ReceivedDeliveries } from './received-deliveries.js';
import { RouteGovernor } from './route-governor.js';
import { RouteKey } from './route-key.js';
import { RunRecords, withSkip } from './run-records.js';

/** How long a pull waits for the rest of a batch the server is still sending. */
const BATCH_TAIL_MS = 20;
/**
 * Runs faster than this on average (hand-out to settle) make a keyed route fetch
 * FAST_KEYED_PREFETCH at a time: more of a key's next messages are then here when its head
 * finishes (a local handoff).
 */
const FAST_RUN_MS = 100;
const FAST_KEYED_PREFETCH = 256;

export interface SubscriptionHost {
  readonly store: NatsStore;
  readonly names: Names;
  readonly outbox: NatsOutbox;
  readonly waits: EventWaits;
  readonly marks: KeyMarksStore;
  /** The time debounce compares the stream's times with. */
  now(): number;
  publishInternal(events: readonly AgentdEvent[]): Promise<void>;
  deadLetter(
    held: Held,
    subscription: string,
    subToken: string,
    attempts: number,
    reason: string,
    errors: ErrorRecord[],
  ): Promise<void>;
  reportError(error: unknown, context: Record<string, unknown>): void;
}

export class NatsSubscription implements Subscription, DeliveryHost {
  readonly records: RunRecords;
  readonly locks: KeyLocks | undefined;
  /** What the deliveries are ordered by: the route's key expression, or the partitionkey. */
  private readonly routeKey: RouteKey;
  readonly leaseMarginMs: number;
  readonly store: NatsStore;
  readonly outbox: NatsOutbox;
  readonly waits: EventWaits;
  private readonly matches: (type: string) => boolean;
  private readonly ready: Held[] = [];
  private readonly held = new Set<Held>();
  /** Keyed messages held here, per key, waiting for (or asking) their key's lock. */
  private readonly queue: KeyQueue | undefined;
  /** Messages without a key held here, by stream sequence (see admit). */
  private readonly unkeyed = new Map<number, Held>();
  private readonly received = new ReceivedDeliveries();
  /** How long handed-out deliveries took to settle, on average (recent ones weigh most). */
  private runMs: number | undefined;
  /** Admissions under way: a pull that found some deliveries ready waits for these too. */
  private readonly admitting = new Set<Promise<void>>();
  private readonly changes = new ChangeSignal();
  private readonly consumer: PullConsumer;
  private readonly wakeSub: CoreSubscription | undefined;
  /** Singleton, cancelOn and debounce, on a route that sets them. */
  readonly governor: RouteGovernor | undefined;
  private readonly keeper: NodeJS.Timeout;
  private closed = false;
  private removed = false;

  constructor(
    private readonly host: SubscriptionHost,
    readonly name: string,
    readonly subToken: string,
    readonly options: SubscriptionOptions,
    startSeq: number,
    governed: GovernedRoute | undefined,
  ) {
    this.store = host.store;
    this.outbox = host.outbox;
    this.waits = host.waits;
    this.matches = compilePatterns(options.types);
    this.records = new RunRecords(this.store, subToken);
    this.leaseMarginMs = Math.min(2_000, Math.max(10, Math.floor(options.leaseMs / 10)));
    this.routeKey = new RouteKey(options);
    this.locks =
      options.ordering === 'key'
        ? new KeyLocks(
            this.store,
            subToken,
            this.routeKey.heads(this.store, host.names, subToken, options.types, this.matches),
            startSeq,
          )
        : undefined;
    this.consumer = new PullConsumer(
      this.store,
      host.names.stream,
      subToken,
      (msg) => this.intake(msg),
      (error) => host.reportError(error, { subscription: name, what: 'pull request' }),
    );
    const locks = this.locks;
    this.queue =
      locks === undefined
        ? undefined
        : new KeyQueue({
            locks,
            isClosed: () => this.closed,
            prepare: (held) => this.prepare(held),
            forget: (held) => this.forget(held),
            receivedBetween: (a, b) => this.received.covers(a, b),
            reportError: (error, seq) =>
              host.reportError(error, { subscription: name, seq, what: 'key' }),
          });
    const queue = this.queue;
    this.wakeSub =
      queue === undefined
        ? undefined
        : this.store.nc.subscribe(host.names.wakeSubject(subToken), {
            callback: (_err, msg) => queue.woken(msg.string()),
          });
    this.governor =
      governed === undefined || locks === undefined
        ? undefined
        : new RouteGovernor(
            {
              store: this.store,
              names: host.names,
              subToken,
              name,
              records: this.records,
              locks,
              marks: host.marks,
              heldMessages: () => this.held,
              endUnrun: (held, ending, recorded, burst) =>
                endUnrun(this, held, ending, recorded, burst),
              reportError: (error, context) =>
                host.reportError(error, { subscription: name, ...context }),
              now: () => host.now(),
            },
            governed,
          );
    this.keeper = setInterval(
      () => this.keepLeases(),
      Math.max(50, Math.min(RECHECK_MS, Math.floor(options.leaseMs / 3))),
    );
    this.keeper.unref();
  }

  async pull({ max, waitMs, signal }: PullOptions): Promise<NatsDelivery[]> {
    const deadline = Date.now() + Math.max(0, waitMs);
    let asked = false;
    let caughtUp = false;
    for (;;) {
      if (this.closed || signal?.aborted) return [];
      // Messages sent together are handed out together: the rest of a server batch still on the
      // wire is waited for (briefly), and messages that arrived are admitted first.
      if (this.ready.length > 0 && this.ready.length < max && !caughtUp) {
        caughtUp = true;
        if (this.consumer.moreComing)
          await this.changes.wait(this.consumer.fetching, BATCH_TAIL_MS, signal);
      }
      if (this.ready.length > 0 && this.ready.length < max && this.admitting.size > 0)
        await Promise.allSettled([...this.admitting]);
      const got = this.take(Math.max(1, max));
      if (got.length > 0) return got;
      const remaining = deadline - Date.now();
      if (remaining <= 0 && asked) return [];
      if (this.inactive) {
        if (remaining <= 0) return [];
        await this.changes.wait(undefined, remaining, signal);
        continue;
      }
      let fetching = this.consumer.fetching;
      if (fetching === undefined) {
        asked = true;
        // A few more than asked for save round trips (the extra wait here, leases kept alive);
        // keyed routes ask for more, as parked messages do not satisfy a pull.
        const batch = Math.max(max, this.prefetch());
        fetching = this.consumer.fetch(batch, remaining).then(() => this.changes.notify());
      } else if (remaining <= 0) {
        return [];
      }
      await this.changes.wait(fetching, remaining > 0 ? remaining : undefined, signal);
    }
  }

  // --- DeliveryHost ---

  async publishInternal(events: readonly AgentdEvent[]): Promise<void> {
    await this.host.publishInternal(events);
  }

  async deadLetter(
    held: Held,
    attempts: number,
    reason: string,
    errors: ErrorRecord[],
  ): Promise<void> {
    await this.host.deadLetter(held, this.name, this.subToken, attempts, reason, errors);
  }

  /** Set when the route was removed (retainSubscriptions): pull() hands out nothing more. */
  get inactive(): boolean {
    return this.removed || this.consumer.deleted;
  }

  set inactive(value: boolean) {
    this.removed = value;
  }

  settled(held: Held): void {
    if (held.handedOutAt !== undefined) {
      const ms = (held.ranUntil ?? Date.now()) - held.handedOutAt;
      this.runMs = this.runMs === undefined ? ms : this.runMs * 0.9 + ms * 0.1;
    }
    this.forget(held);
  }

  async handOff(held: Held): Promise<boolean> {
    return this.queue === undefined ? false : this.queue.handOff(held);
  }

  get cancellable(): boolean {
    return this.governor?.route.cancelling === true;
  }

  async cancelReason(held: Held): Promise<string | undefined> {
    return this.governor?.cancelReason(held);
  }

  /** Told when a run of this route is asked to stop (singleton 'replace', cancelOn). */
  onCancel(listener: CancelListener): () => void {
    return this.governor?.onCancel(listener) ?? (() => undefined);
  }

  /**
   * Tells every worker that a key moved on, naming its next head when there is one: only the
   * worker holding that message acts, with one compare-and-set. `<key> <done> <revision> <next>`.
   */
  wake(keyTok: string, done: number, revision: number, next: number): void {
    // A lost wake-up only delays the key: parked messages ask again after a while.
    this.store.publishQuietly(
      this.host.names.wakeSubject(this.subToken),
      `${keyTok} ${done} ${revision} ${next}`,
    );
  }

  /** Stops pulling; messages held but never handed out go back without spending an attempt. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keeper);
    this.changes.notify();
    const unused = [...this.held].filter((h) => h.state !== 'out' && h.state !== 'classifying');
    await Promise.allSettled(
      unused.map(async (h) => {
        this.forget(h);
        const record = h.record ?? (await this.records.load(h.runSeq));
        await this.records.save(h.runSeq, withSkip(record, h.msg.seq, h.runSeq));
        h.msg.nak();
      }),
    );
    this.consumer.close();
    this.wakeSub?.unsubscribe();
    this.governor?.close();
  }

  // --- admission ---

  private intake(jm: JetStreamMsg): Promise<void> | undefined {
    this.received.add(jm.dseq);
    if (this.closed) {
      jm.nak();
      return undefined;
    }
    let event: AgentdEvent;
    try {
      event = JSON.parse(new TextDecoder().decode(jm.data)) as AgentdEvent;
    } catch (error) {
      this.host.reportError(error, { subscription: this.name, seq: jm.seq, what: 'bad message' });
      jm.term();
      return undefined;
    }
    const only = jm.header(ONLY_HEADER);
    if ((only !== undefined && only !== this.subToken) || !this.matches(event.type)) {
      jm.ack();
      return undefined;
    }
    const keyTok = this.routeKey.lockTokenOf(event);
    const resumed = Number(jm.header(RESUMES_HEADER) ?? 0);
    const resumes = Number.isSafeInteger(resumed) && resumed > 0 ? resumed : undefined;
    const held: Held = {
      msg: jm,
      event,
      keyTok,
      key: this.routeKey.keyOf(event),
      runSeq: resumes ?? jm.seq,
      resumes,
      state: 'classifying',
      leaseUntil: Date.now() + this.options.leaseMs - this.leaseMarginMs,
    };
    const admission = this.admit(held).catch((error: unknown) => {
      this.host.reportError(error, { subscription: this.name, seq: jm.seq, what: 'admitting' });
      // It stays held; the keeper looks at it again (or its lease runs out and NATS redelivers).
      if (held.state === 'classifying') held.state = 'parked';
    });
    this.admitting.add(admission);
    void admission.then(() => this.admitting.delete(admission));
    return admission;
  }

  private async admit(held: Held): Promise<void> {
    this.held.add(held);
    if (this.governor !== undefined) await this.governor.atIntake(held);
    if (held.keyTok === undefined) {
      // A second copy of a message not yet handed out replaces the first, as keyed ones do
      // (key-queue.ts): nats-server 2.9 now and then sends one twice when NAK delays come due.
      const old = this.unkeyed.get(held.msg.seq);
      if (old !== undefined && old.state !== 'out') this.forget(old);
      this.unkeyed.set(held.msg.seq, held);
      return this.prepare(held);
    }
    await this.queue!.admit(held);
  }

  prepare(held: Held): Promise<void> {
    return prepareHeld(this, held);
  }

  /** A prepared message, ready for pull() to hand out. */
  makeReady(held: Held): void {
    if (held.state === 'gone') return;
    held.state = 'ready';
    this.ready.push(held);
    this.changes.notify();
  }

  private take(max: number): NatsDelivery[] {
    const out: NatsDelivery[] = [];
    const now = Date.now();
    while (out.length < max && this.ready.length > 0) {
      const held = this.ready.shift()!;
      if (held.state !== 'ready') continue;
      if (held.leaseUntil <= now) {
        this.forget(held);
        continue;
      }
      held.state = 'out';
      held.handedOutAt = now;
      out.push(held.delivery!);
    }
    return out;
  }

  /** Drops a message from this process's books and lets the next one of its key try. */
  forget(held: Held): void {
    if (held.state === 'gone') return;
    held.state = 'gone';
    this.held.delete(held);
    if (this.unkeyed.get(held.msg.seq) === held) this.unkeyed.delete(held.msg.seq);
    this.queue?.remove(held);
  }

  /** Renews the leases of messages held but not handed out; drops those already lost. */
  private keepLeases(): void {
    if (this.closed) return;
    const now = Date.now();
    const { leaseMs } = this.options;
    renewHeldLeases(this.held, {
      store: this.store,
      now,
      leaseMs,
      leaseMarginMs: this.leaseMarginMs,
      forget: (held) => this.forget(held),
      onError: (error) => this.host.reportError(error, { subscription: this.name, what: 'lease' }),
    });
    this.queue?.recheck(now);
    let floor = Infinity;
    for (const h of this.held) floor = Math.min(floor, h.msg.dseq);
    this.received.prune(floor);
  }

  /**
   * Messages one pull request asks for beyond what was wanted: a few save round trips (leases are
   * kept meanwhile). Keyed routes ask for more, as messages waiting for their key satisfy no
   * pull — many more when runs are fast, fewer when slow, so a burst still spreads over workers.
   */
  private prefetch(): number {
    if (this.locks === undefined) return 16;
    return this.runMs !== undefined && this.runMs < FAST_RUN_MS ? FAST_KEYED_PREFETCH : 32;
  }
}
