// NatsBus: the Bus on NATS JetStream, for many worker processes on many machines. Events are stored
// once in one stream (subject `<stream>.ev.<key>.<type>`); each route is a durable pull consumer;
// per-key order, run records, steps, staged settlements and waits live in one KV bucket; outbox
// actions in another; dead letters and quarantined events in streams of their own. Nothing a
// delivery needs lives in one process's memory. Routes' singleton, cancelOn and debounce options
// are applied at publish (publish-governance.ts) and delivery (route-governor.ts). See
// docs/nats-bus.md.
import { dlqAddedEvent, shouldAnnounce } from '../dlq-announcement.js';
import type { Clock } from '../../core/clock.js';
import type { AgentdEvent } from '../../core/envelope.js';
import { GateRefusal, type IngestGate } from '../../core/ingest-gate.js';
import type {
  Bus,
  ErrorRecord,
  PublishOptions,
  PublishResult,
  Subscription,
  SubscriptionOptions,
} from '../bus.js';
import { EventWaits } from './event-waits.js';
import { natsGovernorSpec } from './governed-route.js';
import { KeyMarksStore } from './key-marks.js';
import { DELIVER_AT_HEADER, eventMsgId, keyToken, subscriptionToken, type Names } from './names.js';
import type { Held } from './nats-delivery.js';
import { NatsDeadLetterQueue } from './nats-dlq.js';
import { NatsOutbox } from './nats-outbox.js';
import { NatsQuarantine } from './nats-quarantine.js';
import { governAtPublish, type StoredEvent } from './publish-governance.js';
import { asUnavailable, NatsStore, type NatsStoreOptions } from './nats-store.js';
import { NatsSubscription, type SubscriptionHost } from './nats-subscription.js';
import { ensureRouteConsumer } from './route-consumer.js';
import { RouteKey } from './route-key.js';
import { RouteRegistry, type RegisteredRoute } from './route-registry.js';

export interface NatsBusOptions extends NatsStoreOptions {
  /** The `source` of events the bus itself publishes (agentd.dlq.added). */
  source?: string | undefined;
  /** Deliveries a route may have out (running, parked or waiting for a retry) at once. */
  maxAckPending?: number | undefined;
  /** Where errors that no caller can see go (a failed lease renewal, a bad message). */
  onError?: (error: unknown, context: Record<string, unknown>) => void | undefined;
  /** Checks each event's data against its type's contract; refused events are quarantined. */
  gate?: IngestGate | undefined;
  /** The time debounce compares the stream's times with (default: the system clock). */
  clock?: Pick<Clock, 'now'> | undefined;
}

/** How long backlogs() may answer from its last look at the consumers. */
const BACKLOG_CACHE_MS = 250;

export class NatsBus implements Bus, SubscriptionHost {
  readonly dlq: NatsDeadLetterQueue;
  readonly names: Names;
  readonly outbox: NatsOutbox;
  readonly quarantine: NatsQuarantine;
  readonly gate: IngestGate | undefined;
  private waitIndex: EventWaits | undefined;
  private backlogCache: { at: number; value: Promise<ReadonlyMap<string, number>> } | undefined;
  private readonly registry: RouteRegistry;
  readonly marks: KeyMarksStore;
  private readonly open = new Set<NatsSubscription>();
  private readonly source: string;
  private closed = false;

  private constructor(
    readonly store: NatsStore,
    private readonly options: NatsBusOptions,
  ) {
    this.names = store.names;
    this.source = options.source ?? 'agentd://local';
    this.gate = options.gate;
    this.marks = new KeyMarksStore(store, () => this.waitIndex);
    this.registry = new RouteRegistry(store, (error, context) => this.reportError(error, context));
    this.dlq = new NatsDeadLetterQueue(store, store.names);
    this.outbox = new NatsOutbox(this);
    this.quarantine = new NatsQuarantine({
      store,
      gate: this.gate,
      publishAdmitted: (events) => this.send(events, undefined),
    });
  }

  /** Connects, creates the streams and buckets when missing, loads the routes and the waits. */
  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const bus = new NatsBus(await NatsStore.open(options), options);
    try {
      await bus.registry.load();
      bus.waitIndex = await EventWaits.open(bus.store, (error, context) =>
        bus.reportError(error, context),
      );
    } catch (error) {
      await bus.registry.close();
      await bus.store.close();
      throw asUnavailable(error, 'loading the route registry and waits');
    }
    return bus;
  }

  /** Parked runs (ctx.waitForEvent), mirrored from the state bucket. */
  get waits(): EventWaits {
    if (this.waitIndex === undefined) throw new Error('the NATS bus is not connected');
    return this.waitIndex;
  }

  async publish(
    events: readonly AgentdEvent[],
    options: PublishOptions = {},
  ): Promise<PublishResult[]> {
    this.assertOpen();
    if (events.length === 0) return [];
    const delay = Math.max(0, options.delayMs ?? 0);
    const headers = delay > 0 ? { [DELIVER_AT_HEADER]: String(Date.now() + delay) } : undefined;
    return this.ingest(events, headers);
  }

  async subscribe(name: string, options: SubscriptionOptions): Promise<Subscription> {
    this.assertOpen();
    if (name.length === 0) throw new Error('subscription name must not be empty');
    // A bad key expression or option fails here, naming it, before anything is stored.
    new RouteKey(options);
    const spec = natsGovernorSpec(name, options);
    const subToken = subscriptionToken(name);
    const entry: RegisteredRoute = {
      name,
      types: [...options.types],
      ordering: options.ordering,
      active: true,
      updatedAt: new Date().toISOString(),
      ...(spec === undefined ? {} : { governor: spec }),
    };
    try {
      const governed = await this.registry.register(entry);
      const startSeq = await ensureRouteConsumer(
        this.store,
        name,
        subToken,
        options,
        this.options.maxAckPending ?? 10_000,
      );
      const subscription = new NatsSubscription(this, name, subToken, options, startSeq, governed);
      this.open.add(subscription);
      return subscription;
    } catch (error) {
      throw asUnavailable(error, `subscribing route ${name}`);
    }
  }

  async retainSubscriptions(names: readonly string[]): Promise<void> {
    for (const name of await this.registry.retain(names)) {
      // Its consumer goes: events published from now on are not queued for a removed route.
      await this.store.jsm.consumers
        .delete(this.names.stream, subscriptionToken(name))
        .catch(() => false);
      for (const sub of this.open) if (sub.name === name) sub.inactive = true;
    }
  }

  /** Also true for a route's cancelOn types: it watches them without a delivery of its own. */
  hasSubscribers(type: string): boolean {
    return this.registry.hasSubscribers(type);
  }

  subscribersOf(type: string): readonly string[] {
    return this.registry.subscribersOf(type);
  }

  /**
   * Per active route: stored but not yet handed out (num_pending), out with a worker (running,
   * queued behind its key, waiting for a retry: num_ack_pending), and parked on a wait. A route
   * with several type patterns reads every event, so its num_pending counts others' too.
   */
  backlogs(): Promise<ReadonlyMap<string, number>> {
    const now = Date.now();
    if (this.backlogCache !== undefined && now - this.backlogCache.at <= BACKLOG_CACHE_MS)
      return this.backlogCache.value;
    const value = this.readBacklogs();
    this.backlogCache = { at: now, value };
    // A failed look is not cached: the next caller asks again.
    value.catch(() => {
      if (this.backlogCache?.value === value) this.backlogCache = undefined;
    });
    return value;
  }

  /** True while some run waits for events of this type. */
  waitsFor(type: string): boolean {
    return this.waitIndex?.waitsFor(type) ?? false;
  }

  /** Route names known to the registry, active or not (for `agentd status`). */
  routes(): RegisteredRoute[] {
    return this.registry.routes();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.open].map((sub) => sub.close()));
    const registry = this.registry.close();
    await Promise.allSettled([this.outbox.close(), this.waitIndex?.close()]);
    await this.store.close();
    await registry;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // --- SubscriptionHost ---

  /** Ack-time events, action events, announcements: through the gate like any publish. */
  async publishInternal(events: readonly AgentdEvent[]): Promise<void> {
    await this.ingest(events, undefined);
  }

  async deadLetter(
    held: Held,
    subscription: string,
    subToken: string,
    attempts: number,
    reason: string,
    errors: ErrorRecord[],
  ): Promise<void> {
    const { event } = held;
    const deadAt = new Date().toISOString();
    const id = await this.dlq.add(
      { subscription, event, attempts, reason, errors, deadAt },
      `${subToken}:${held.msg.seq}:${held.msg.deliveryCount}`,
    );
    if (!shouldAnnounce(event, (type) => this.hasSubscribers(type))) return;
    await this.publishInternal([
      dlqAddedEvent({
        // Derived from the dead letter, so announcing it again after a crash is a duplicate.
        id: `${this.names.dlqStream}-${id}`,
        source: this.source,
        time: deadAt,
        event,
        deliveryId: String(id),
        subscription,
        attempts,
        reason,
      }),
    ]);
  }

  now(): number {
    return this.options.clock?.now() ?? Date.now();
  }

  reportError(error: unknown, context: Record<string, unknown>): void {
    if (this.closed) return;
    if (this.options.onError !== undefined) this.options.onError(error, context);
    else console.error('agentd nats bus:', context, error);
  }

  /** Stores what the gate admits, quarantines what it refuses; results in the events' order. */
  private async ingest(
    events: readonly AgentdEvent[],
    headers: Record<string, string> | undefined,
  ): Promise<PublishResult[]> {
    const gate = this.gate;
    if (gate === undefined || events.length === 0) return this.send(events, headers);
    const verdicts = events.map((event) => gate.admit(event));
    if (verdicts.every((verdict, i) => verdict === events[i])) return this.send(events, headers);
    const admitted = verdicts.filter((v): v is AgentdEvent => !(v instanceof GateRefusal));
    const stored = await this.send(admitted, headers);
    let next = 0;
    return Promise.all(
      verdicts.map((verdict, i) =>
        verdict instanceof GateRefusal
          ? this.quarantine.add(events[i]!, verdict)
          : Promise.resolve(stored[next++]!),
      ),
    );
  }

  private async send(
    events: readonly AgentdEvent[],
    extraHeaders: Record<string, string> | undefined,
  ): Promise<PublishResult[]> {
    if (events.length === 0) return [];
    this.store.assertConnected('publish');
    try {
      // One connection keeps these in call order, so a batch lands in the stream in its order.
      const acks = await Promise.all(
        events.map((event) =>
          this.store.publisher.publish(
            this.names.eventSubject(event, keyToken(event.partitionkey)),
            JSON.stringify(event),
            eventMsgId(event),
            extraHeaders,
          ),
        ),
      );
      const results = events.map((event, i) => ({
        id: event.id,
        source: event.source,
        duplicate: acks[i]?.duplicate === true,
      }));
      const stored = events.flatMap((event, i) =>
        acks[i]?.duplicate === false ? [{ event, seq: acks[i].seq }] : [],
      );
      await this.governStored(stored);
      await this.resumeWaits(stored.map((one) => one.event));
      return results;
    } catch (error) {
      throw asUnavailable(error, 'publishing');
    }
  }

  /**
   * Singleton and cancelOn decisions of governed routes; a miss here (NATS failed in between) is
   * made by the worker that receives the event, so the publish stands.
   */
  private async governStored(stored: readonly StoredEvent[]): Promise<void> {
    const routes = this.registry.governed();
    if (routes.length === 0 || stored.length === 0) return;
    try {
      await governAtPublish(this.store, this.marks, routes, stored);
    } catch (error) {
      this.reportError(error, { what: 'singleton and cancelOn at publish' });
    }
  }

  /** The publish-time check for parked runs; a miss here is found by the waits' own scans. */
  private async resumeWaits(stored: readonly AgentdEvent[]): Promise<void> {
    try {
      await this.waitIndex?.published(stored);
    } catch (error) {
      this.reportError(error, { what: 'resuming waits at publish' });
    }
  }

  private async readBacklogs(): Promise<ReadonlyMap<string, number>> {
    const parked = this.waitIndex?.countBySubscription() ?? new Map<string, number>();
    const backlogs = new Map<string, number>();
    const active = this.registry.routes().filter((entry) => entry.active);
    await Promise.all(
      active.map(async (entry) => {
        const info = await this.store.jsm.consumers
          .info(this.names.stream, subscriptionToken(entry.name))
          .catch(() => undefined);
        const queued = (info?.num_pending ?? 0) + (info?.num_ack_pending ?? 0);
        backlogs.set(entry.name, queued + (parked.get(entry.name) ?? 0));
      }),
    );
    return backlogs;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the bus is closed');
  }
}
