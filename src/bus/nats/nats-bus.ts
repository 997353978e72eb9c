// NatsBus: the Bus on NATS JetStream, for many worker processes on many machines. Events are stored
// once in one stream (subject `<stream>.ev.<key>.<type>`); each route is a durable pull consumer;
// per-key order, run records, steps and staged emits live in one KV bucket; dead letters in a
// stream of their own. Nothing a delivery needs lives in one process's memory. See docs/nats-bus.md.
import { dlqAddedEvent, shouldAnnounce } from '../dlq-announcement.js';
import type { AgentdEvent } from '../../core/envelope.js';
import { compilePatterns } from '../../core/type-pattern.js';
import type {
  Bus,
  ErrorRecord,
  PublishOptions,
  PublishResult,
  Subscription,
  SubscriptionOptions,
} from '../bus.js';
import {
  DELIVER_AT_HEADER,
  eventMsgId,
  keyToken,
  kvKeys,
  subscriptionToken,
  type Names,
} from './names.js';
import type { Held } from './nats-delivery.js';
import { NatsDeadLetterQueue } from './nats-dlq.js';
import { asUnavailable, NatsStore, type NatsStoreOptions } from './nats-store.js';
import { NatsSubscription, type SubscriptionHost } from './nats-subscription.js';

export interface NatsBusOptions extends NatsStoreOptions {
  /** The `source` of events the bus itself publishes (agentd.dlq.added). */
  source?: string | undefined;
  /** Deliveries a route may have out (running, parked or waiting for a retry) at once. */
  maxAckPending?: number | undefined;
  /** Where errors that no caller can see go (a failed lease renewal, a bad message). */
  onError?: (error: unknown, context: Record<string, unknown>) => void | undefined;
}

interface Registered {
  name: string;
  types: string[];
  ordering: 'key' | 'none';
  active: boolean;
  updatedAt: string;
}

const NS = 1_000_000;

export class NatsBus implements Bus, SubscriptionHost {
  readonly dlq: NatsDeadLetterQueue;
  readonly names: Names;
  private readonly registry = new Map<string, Registered & { matches: (t: string) => boolean }>();
  private readonly open = new Set<NatsSubscription>();
  private readonly source: string;
  private watching: Promise<void> | undefined;
  private stopWatching: (() => void) | undefined;
  private closed = false;

  private constructor(
    readonly store: NatsStore,
    private readonly options: NatsBusOptions,
  ) {
    this.names = store.names;
    this.source = options.source ?? 'agentd://local';
    this.dlq = new NatsDeadLetterQueue(store, store.names);
  }

  /** Connects, creates the streams and bucket when missing, and loads the route registry. */
  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const bus = new NatsBus(await NatsStore.open(options), options);
    try {
      await bus.loadRegistry();
    } catch (error) {
      await bus.store.close();
      throw asUnavailable(error, 'loading the route registry');
    }
    return bus;
  }

  async publish(
    events: readonly AgentdEvent[],
    options: PublishOptions = {},
  ): Promise<PublishResult[]> {
    this.assertOpen();
    if (events.length === 0) return [];
    const delay = Math.max(0, options.delayMs ?? 0);
    const headers = delay > 0 ? { [DELIVER_AT_HEADER]: String(Date.now() + delay) } : undefined;
    return this.send(events, headers);
  }

  async subscribe(name: string, options: SubscriptionOptions): Promise<Subscription> {
    this.assertOpen();
    if (name.length === 0) throw new Error('subscription name must not be empty');
    const matches = compilePatterns(options.types);
    const subToken = subscriptionToken(name);
    const entry: Registered = {
      name,
      types: [...options.types],
      ordering: options.ordering,
      active: true,
      updatedAt: new Date().toISOString(),
    };
    try {
      await this.store.kvPut(kvKeys.subscription(subToken), entry);
      this.registry.set(name, { ...entry, matches });
      const startSeq = await this.ensureConsumer(name, subToken, options);
      const subscription = new NatsSubscription(this, name, subToken, options, startSeq);
      this.open.add(subscription);
      return subscription;
    } catch (error) {
      throw asUnavailable(error, `subscribing route ${name}`);
    }
  }

  async retainSubscriptions(names: readonly string[]): Promise<void> {
    const keep = new Set(names);
    for (const entry of [...this.registry.values()]) {
      if (!entry.active || keep.has(entry.name)) continue;
      const subToken = subscriptionToken(entry.name);
      const { matches, ...stored } = entry;
      const inactive = { ...stored, active: false, updatedAt: new Date().toISOString() };
      await this.store.kvPut(kvKeys.subscription(subToken), inactive);
      this.registry.set(entry.name, { ...inactive, matches });
      // Its consumer goes: events published from now on are not queued for a removed route.
      await this.store.jsm.consumers.delete(this.names.stream, subToken).catch(() => false);
      for (const sub of this.open) if (sub.name === entry.name) sub.inactive = true;
    }
  }

  hasSubscribers(type: string): boolean {
    for (const entry of this.registry.values())
      if (entry.active && entry.matches(type)) return true;
    return false;
  }

  /** Route names known to the registry, active or not (for `agentd status`). */
  routes(): Registered[] {
    return [...this.registry.values()].map(({ matches: _matches, ...entry }) => entry);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.open].map((sub) => sub.close()));
    this.stopWatching?.();
    await this.store.close();
    await this.watching;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // --- SubscriptionHost ---

  async publishInternal(events: readonly AgentdEvent[]): Promise<void> {
    await this.send(events, undefined);
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

  reportError(error: unknown, context: Record<string, unknown>): void {
    if (this.closed) return;
    if (this.options.onError !== undefined) this.options.onError(error, context);
    else console.error('agentd nats bus:', context, error);
  }

  private async send(
    events: readonly AgentdEvent[],
    extraHeaders: Record<string, string> | undefined,
  ): Promise<PublishResult[]> {
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
      return events.map((event, i) => ({
        id: event.id,
        source: event.source,
        duplicate: acks[i]?.duplicate === true,
      }));
    } catch (error) {
      throw asUnavailable(error, 'publishing');
    }
  }

  /** Creates the route's durable consumer, or adapts the existing one; returns its first seq. */
  private async ensureConsumer(
    name: string,
    subToken: string,
    options: SubscriptionOptions,
  ): Promise<number> {
    const stream = this.names.stream;
    const filter = this.names.filterSubject(options.types);
    const settings = {
      ack_wait: options.leaseMs * NS,
      max_ack_pending: this.options.maxAckPending ?? 10_000,
    };
    const existing = await this.store.jsm.consumers.info(stream, subToken).catch(() => undefined);
    if (existing !== undefined && existing.config.filter_subject === filter) {
      const config = existing.config;
      if (
        config.ack_wait !== settings.ack_wait ||
        config.max_ack_pending !== settings.max_ack_pending
      )
        await this.store.jsm.consumers.update(stream, subToken, settings);
      return config.opt_start_seq ?? 1;
    }
    let start: number;
    if (existing !== undefined) {
      // The route's types changed: a new consumer picks up after the old one's acknowledged floor.
      start = existing.ack_floor.stream_seq + 1;
      await this.store.jsm.consumers.delete(stream, subToken);
    } else {
      start = (await this.store.jsm.streams.info(stream)).state.last_seq + 1;
    }
    try {
      await this.store.jsm.consumers.add(stream, {
        durable_name: subToken,
        description: `agentd route ${name}`,
        ack_policy: 'explicit',
        deliver_policy: 'by_start_sequence',
        opt_start_seq: start,
        filter_subject: filter,
        // Attempts are counted by agentd (see docs/nats-bus.md): JetStream's max_deliver would
        // strand a message silently, and releases and parked deliveries are not attempts.
        max_deliver: -1,
        max_waiting: 512,
        ...settings,
      });
      return start;
    } catch (error) {
      // Another worker created it first: use theirs.
      const theirs = await this.store.jsm.consumers.info(stream, subToken).catch(() => undefined);
      if (theirs === undefined) throw error;
      return theirs.config.opt_start_seq ?? 1;
    }
  }

  private async loadRegistry(): Promise<void> {
    const keys: string[] = [];
    for await (const key of await this.store.kv.keys(kvKeys.subscriptions)) keys.push(key);
    for (const key of keys) {
      const found = await this.store.kvGet<Registered>(key);
      if (found !== undefined) this.remember(found.value);
    }
    // Routes that workers elsewhere add or remove show up here, for hasSubscribers().
    const watch = await this.store.kv.watch({ key: kvKeys.subscriptions });
    this.stopWatching = () => watch.stop();
    this.watching = (async () => {
      for await (const entry of watch) {
        if (entry.operation !== 'PUT') continue;
        try {
          this.remember(entry.json<Registered>());
        } catch (error) {
          this.reportError(error, { what: 'route registry entry', key: entry.key });
        }
      }
    })();
  }

  private remember(entry: Registered): void {
    this.registry.set(entry.name, { ...entry, matches: compilePatterns(entry.types) });
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the bus is closed');
  }
}
