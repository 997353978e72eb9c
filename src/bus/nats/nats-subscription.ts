// A subscription's consumer side on NATS: messages from the route's durable consumer (see
// pull-consumer.ts) are admitted here — skipped if it is not for this route, parked behind an older
// delivery of its key, held back until a delayed time, or made ready for pull() to hand out.
// Parked and ready messages keep their leases alive (+WPI) until they run or this process stops.
import type { Subscription as CoreSubscription } from '@nats-io/transport-node';
import type { AgentdEvent } from '../../core/envelope.js';
import { compilePatterns } from '../../core/type-pattern.js';
import type { ErrorRecord, PullOptions, Subscription, SubscriptionOptions } from '../bus.js';
import type { JetStreamMsg } from './jetstream-msg.js';
import { KeyLocks } from './key-lock.js';
import { DELIVER_AT_HEADER, keyToken, ONLY_HEADER, type Names } from './names.js';
import { NatsDelivery, type DeliveryHost, type Held } from './nats-delivery.js';
import type { NatsStore } from './nats-store.js';
import { PullConsumer } from './pull-consumer.js';
import { attemptOf, LEASE_EXPIRED, RunRecords } from './run-records.js';

export interface SubscriptionHost {
  readonly store: NatsStore;
  readonly names: Names;
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

/** How long a parked delivery waits for a wake-up before it looks at its key again itself. */
const RECHECK_MS = 2_000;

export class NatsSubscription implements Subscription, DeliveryHost {
  readonly records: RunRecords;
  readonly locks: KeyLocks | undefined;
  readonly leaseMarginMs: number;
  readonly store: NatsStore;
  private readonly matches: (type: string) => boolean;
  private readonly ready: Held[] = [];
  /** Keyed messages held here, per key token, in stream order. */
  private readonly byKey = new Map<string, Held[]>();
  private readonly held = new Set<Held>();
  /** Admissions under way: a pull that found some deliveries ready waits for these too. */
  private readonly admitting = new Set<Promise<void>>();
  private readonly waiters = new Set<() => void>();
  private readonly consumer: PullConsumer;
  private readonly wakeSub: CoreSubscription | undefined;
  private readonly keeper: NodeJS.Timeout;
  private closed = false;
  private removed = false;

  constructor(
    private readonly host: SubscriptionHost,
    readonly name: string,
    readonly subToken: string,
    readonly options: SubscriptionOptions,
    startSeq: number,
  ) {
    this.store = host.store;
    this.matches = compilePatterns(options.types);
    this.records = new RunRecords(this.store, subToken);
    this.leaseMarginMs = Math.min(2_000, Math.max(10, Math.floor(options.leaseMs / 10)));
    const keyed = options.ordering === 'key';
    this.locks = keyed
      ? new KeyLocks(this.store, host.names, subToken, options.types, this.matches, startSeq)
      : undefined;
    this.consumer = new PullConsumer(
      this.store,
      host.names.stream,
      subToken,
      (msg) => this.intake(msg),
      (error) => host.reportError(error, { subscription: name, what: 'pull request' }),
    );
    this.wakeSub = keyed
      ? this.store.nc.subscribe(host.names.wakeSubject(subToken), {
          callback: (_err, msg) => this.woken(msg.string()),
        })
      : undefined;
    this.keeper = setInterval(
      () => this.keepLeases(),
      Math.max(50, Math.min(RECHECK_MS, Math.floor(options.leaseMs / 3))),
    );
    this.keeper.unref();
  }

  async pull({ max, waitMs, signal }: PullOptions): Promise<NatsDelivery[]> {
    const deadline = Date.now() + Math.max(0, waitMs);
    let asked = false;
    for (;;) {
      if (this.closed || signal?.aborted) return [];
      // Messages that arrived together are admitted together, so one pull hands out all of them.
      if (this.ready.length > 0 && this.ready.length < max && this.admitting.size > 0)
        await Promise.allSettled([...this.admitting]);
      const got = this.take(Math.max(1, max));
      if (got.length > 0) return got;
      const remaining = deadline - Date.now();
      if (remaining <= 0 && asked) return [];
      if (this.inactive) {
        if (remaining <= 0) return [];
        await this.changed(undefined, remaining, signal);
        continue;
      }
      let fetching = this.consumer.fetching;
      if (fetching === undefined) {
        asked = true;
        // A few more than asked for save round trips (the extra wait here, leases kept alive);
        // keyed routes ask for more, as parked messages do not satisfy a pull.
        const batch = Math.max(max, this.locks === undefined ? 16 : 32);
        fetching = this.consumer.fetch(batch, remaining).then(() => this.notify());
      } else if (remaining <= 0) {
        return [];
      }
      await this.changed(fetching, remaining > 0 ? remaining : undefined, signal);
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
    this.forget(held);
  }

  /**
   * Tells every worker that a key moved on, naming its next head when it can be found: only the
   * worker holding that message acts, with one compare-and-set. `<key> <done> <revision> <next>`.
   */
  wake(keyTok: string, done: number, revision: number): void {
    const subject = this.host.names.wakeSubject(this.subToken);
    // A lost wake-up only delays the key: parked messages ask again after a while.
    this.locks!.nextHead(keyTok, done).then(
      (next) => this.store.publishQuietly(subject, `${keyTok} ${done} ${revision} ${next}`),
      (error: unknown) => {
        this.host.reportError(error, { subscription: this.name, what: 'next head' });
        this.store.publishQuietly(subject, `${keyTok} ${done} ${revision} 0`);
      },
    );
  }

  /** Stops pulling; messages held but never handed out go back without spending an attempt. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keeper);
    this.notify();
    const unused = [...this.held].filter((h) => h.state !== 'out' && h.state !== 'classifying');
    await Promise.allSettled(
      unused.map(async (h) => {
        this.forget(h);
        const record = h.record ?? (await this.records.load(h.msg.seq));
        await this.records.save(h.msg.seq, { ...record, skips: record.skips + 1 });
        h.msg.nak();
      }),
    );
    this.consumer.close();
    this.wakeSub?.unsubscribe();
  }

  // --- admission ---

  private intake(jm: JetStreamMsg): Promise<void> | undefined {
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
    const keyTok =
      this.locks !== undefined && event.partitionkey !== undefined
        ? keyToken(event.partitionkey)
        : undefined;
    const held: Held = {
      msg: jm,
      event,
      keyTok,
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
    if (held.keyTok === undefined) return this.prepare(held);
    const line = this.byKey.get(held.keyTok) ?? [];
    // A redelivery replaces a copy of the same message this process still holds: NATS only
    // redelivers once the old copy's lease is gone (a run still holding it can no longer settle).
    for (const old of line.filter((h) => h.msg.seq === held.msg.seq && h !== held))
      this.forget(old);
    const fresh = this.byKey.get(held.keyTok) ?? [];
    fresh.push(held);
    fresh.sort((a, b) => a.msg.seq - b.msg.seq);
    this.byKey.set(held.keyTok, fresh);
    if (fresh[0] !== held) {
      held.state = 'parked';
      return;
    }
    await this.tryHead(held);
  }

  /** Asks the key lock whether this lowest held message of its key may run now. */
  private async tryHead(held: Held): Promise<void> {
    held.state = 'classifying';
    held.checkedAt = Date.now();
    const verdict = await this.locks!.acquire(held.msg.seq, held.keyTok!, held.msg.deliveryCount);
    if (held.state !== 'classifying') return;
    switch (verdict) {
      case 'run':
        return this.prepare(held);
      case 'wait':
        held.state = 'parked';
        return;
      case 'finished':
        held.msg.ack();
        return this.forget(held);
      case 'stale':
        return this.forget(held);
    }
  }

  /** Works out the attempt, holds back an early delayed delivery, then makes it ready. */
  private async prepare(held: Held): Promise<void> {
    const now = Date.now();
    const { msg } = held;
    if (msg.deliveryCount > 1 || msg.header(DELIVER_AT_HEADER) !== undefined)
      held.record = await this.records.load(msg.seq);
    const deliverAt = Number(msg.header(DELIVER_AT_HEADER) ?? 0);
    if (deliverAt > now + 2) {
      // Not an attempt: count it as a skip. A keyed one keeps its key while it waits.
      const record = held.record ?? { skips: 0, errors: [] };
      await this.records.save(msg.seq, { ...record, skips: record.skips + 1 });
      msg.nak(deliverAt - now);
      return this.forget(held);
    }
    const { attempt, errors } = attemptOf(
      msg.deliveryCount,
      held.record ?? { skips: 0, errors: [] },
      now,
    );
    const delivery = new NatsDelivery(this, held, attempt, errors);
    held.delivery = delivery;
    if (attempt > this.options.maxAttempts) {
      // Its last attempt's lease expired: dead-letter it as the SQLite bus does.
      const last = this.options.maxAttempts;
      held.state = 'out';
      const reason = `${LEASE_EXPIRED} (attempt ${last} of ${last})`;
      await this.deadLetter(held, last, reason, errors.slice(0, last));
      const revision =
        held.keyTok === undefined
          ? 0
          : await this.locks!.release(msg.seq, held.keyTok, msg.deliveryCount);
      if (revision > 0) this.wake(held.keyTok!, msg.seq, revision);
      msg.term();
      return this.forget(held);
    }
    held.state = 'ready';
    this.ready.push(held);
    this.notify();
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
      out.push(held.delivery!);
    }
    return out;
  }

  /** Drops a message from this process's books and lets the next one of its key try. */
  private forget(held: Held): void {
    if (held.state === 'gone') return;
    held.state = 'gone';
    this.held.delete(held);
    if (held.keyTok === undefined) return;
    const line = this.byKey.get(held.keyTok);
    if (line === undefined) return;
    const index = line.indexOf(held);
    if (index >= 0) line.splice(index, 1);
    if (line.length === 0) this.byKey.delete(held.keyTok);
    else if (index === 0 && held.released !== true) this.lookAgain(held.keyTok);
  }

  private woken(payload: string): void {
    const [keyTok, done, revision, next] = payload.split(' ');
    if (keyTok === undefined) return;
    const first = this.byKey.get(keyTok)?.[0];
    if (next === undefined || next === '0') return this.lookAgain(keyTok);
    if (first === undefined || first.state !== 'parked' || String(first.msg.seq) !== next) return;
    first.state = 'classifying';
    first.checkedAt = Date.now();
    const { deliveryCount } = first.msg;
    this.locks!.handOver(first.msg.seq, keyTok, deliveryCount, Number(done), Number(revision))
      .then(async (taken) => {
        if (first.state !== 'classifying') return;
        if (taken) return this.prepare(first);
        // The entry moved on since (e.g. a takeover): ask the lock the long way.
        first.state = 'parked';
        this.lookAgain(keyTok);
      })
      .catch((error: unknown) => {
        if (first.state === 'classifying') first.state = 'parked';
        this.host.reportError(error, { subscription: this.name, seq: first.msg.seq, what: 'key' });
      });
  }

  /** The key may have moved on: its lowest parked message here asks the lock again. */
  private lookAgain(keyTok: string): void {
    if (this.closed) return;
    const first = this.byKey.get(keyTok)?.[0];
    if (first === undefined || first.state !== 'parked') return;
    this.tryHead(first).catch((error: unknown) => {
      if (first.state === 'classifying') first.state = 'parked';
      this.host.reportError(error, { subscription: this.name, seq: first.msg.seq, what: 'key' });
    });
  }

  /** Renews the leases of messages held but not handed out; drops those already lost. */
  private keepLeases(): void {
    if (this.closed) return;
    const now = Date.now();
    // A run whose lease ran out without a settle (its worker gave it up) no longer blocks its key.
    for (const held of this.held)
      if (held.state === 'out' && held.leaseUntil + this.options.leaseMs <= now) this.forget(held);
    const held = [...this.held].filter((h) => h.state === 'parked' || h.state === 'ready');
    for (const h of held) if (h.leaseUntil <= now) this.forget(h);
    // Renewed once half the lease is gone, not on every tick: a deep backlog of parked messages
    // costs one +WPI each per half lease.
    const keep = held.filter(
      (h) => h.state !== 'gone' && h.leaseUntil - now < this.options.leaseMs / 2,
    );
    if (this.store.connected && keep.length > 0) {
      try {
        for (const held of keep) if (held.state !== 'gone') held.msg.working();
      } catch (error) {
        return this.host.reportError(error, { subscription: this.name, what: 'lease' });
      }
      this.store.nc.flush().then(
        () => {
          const until = now + this.options.leaseMs - this.leaseMarginMs;
          for (const held of keep) if (held.state !== 'gone') held.leaseUntil = until;
        },
        (error: unknown) =>
          this.host.reportError(error, { subscription: this.name, what: 'lease' }),
      );
    }
    // A wake-up can be lost (a reconnect, a worker that died mid-release): keys whose lowest
    // parked message heard nothing for a while ask again.
    for (const [keyTok, line] of this.byKey) {
      const first = line[0];
      if (first?.state === 'parked' && now - (first.checkedAt ?? 0) >= RECHECK_MS)
        this.lookAgain(keyTok);
    }
  }

  private changed(
    fetching: Promise<void> | undefined,
    ms: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = ms === undefined ? undefined : setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
      void fetching?.then(done);
    });
  }

  private notify(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
