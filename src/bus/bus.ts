// The Bus contract: durable, idempotent publish and per-subscription deliveries with leases,
// retries, per-key order and a dead-letter queue. SqliteBus and (later) NatsBus implement it.
import type { AgentdEvent } from '../core/envelope.js';
import type { Quarantine } from './quarantine.js';
import type { OutboxStore, RecordedAction } from './outbox-store.js';

export interface PublishOptions {
  /** Hold the deliveries back until this many ms from now (delayed delivery, debounce). */
  delayMs?: number;
}

export interface PublishResult {
  id: string;
  source: string;
  /** True when (source, id) was already stored: the event was dropped as a duplicate. */
  duplicate: boolean;
  /** Its data broke its type's contract: stored in the quarantine, not delivered. */
  quarantined?: true;
}

export interface BackoffPolicy {
  /** Delay before the 2nd attempt. */
  initialMs: number;
  /** Ceiling for any one delay. */
  maxMs: number;
  /** Growth per attempt. */
  factor: number;
}

export interface SubscriptionOptions {
  /** Type patterns this subscription receives (exact, `a.*`, `a.**`). */
  types: readonly string[];
  /** Attempts before a delivery is dead-lettered (including the first). */
  maxAttempts: number;
  backoff: BackoffPolicy;
  /** How long a claimed delivery stays leased without an ack, nack or extend. */
  leaseMs: number;
  /**
   * 'key' (default): deliveries sharing a partitionkey run one at a time in publish order, and a
   * delayed retry holds its key. 'none': partition keys are ignored for this subscription.
   */
  ordering: 'key' | 'none';
  /**
   * The key expression (core/route.ts KeyExpression) the bus evaluates on each event at fan-out to
   * get the delivery's key. Default: the event's partitionkey.
   */
  key?: string;
  /** Ready keys are served round-robin (weighted by `weights[key]`, default 1), not publish order. */
  fairness?: { weights?: Readonly<Record<string, number>> };
  /** A newer event for a key that has an unfinished delivery: skipped, or it cancels the older. */
  singleton?: 'skip' | 'replace';
  /** Events of these types (matching `match`) cancel the key's unfinished delivery. */
  cancelOn?: readonly { type: string; match?: Record<string, unknown> }[];
  /** The key's not yet started delivery is replaced by the newest event (durable debounce). */
  debounce?: { waitMs: number; maxWaitMs?: number };
  /** Deliveries of one key are grouped and claimed together (Delivery.events). */
  batch?: { maxSize: number; maxWaitMs: number };
}

/** Told when a leased delivery is cancelled (singleton 'replace', cancelOn). */
export type CancelListener = (deliveryId: string, reason: string) => void;

export interface ErrorRecord {
  attempt: number;
  at: string;
  error: string;
}

export interface AckOptions {
  /** Events published in the same transaction as the ack (ctx.emit, internal run events). */
  publish?: readonly AgentdEvent[];
  /**
   * Outbox actions recorded in the same transaction as the ack (ctx.outbox). A key already
   * recorded is dropped. Only a bus with an `outbox` store takes them.
   */
  actions?: readonly RecordedAction[];
  /** 'skipped' records that a route filter declined the event. */
  outcome?: 'completed' | 'skipped';
}

/** What a parked delivery waits for (ctx.waitForEvent). */
export interface WaitRequest {
  /** The step the outcome is memoized under: `{ event }` or `{ timedOut: true }`. */
  step: string;
  type: string;
  /** An EventMatch pattern (JSON). */
  match?: Record<string, unknown>;
  /** When to give up (ms since the epoch); none waits for ever. */
  deadline?: number;
}

export interface ParkOptions {
  publish?: readonly AgentdEvent[];
  actions?: readonly RecordedAction[];
}

/** The memoized outcome of a wait. */
export type WaitOutcome = { event: AgentdEvent } | { timedOut: true; at: string };

export interface NackOptions {
  /** Retry after this delay instead of the subscription's backoff. */
  delayMs?: number;
  error?: string;
  publish?: readonly AgentdEvent[];
}

export interface DeadLetterOptions {
  publish?: readonly AgentdEvent[];
}

export interface Delivery {
  readonly deliveryId: string;
  readonly subscription: string;
  readonly event: AgentdEvent;
  /** 1 on the first attempt. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly errors: readonly ErrorRecord[];
  /** When the event was published (ms since the epoch), where the bus knows it: for lag metrics. */
  readonly publishedAt?: number;
  ack(options?: AckOptions): Promise<void>;
  /** Fails this attempt: retried with backoff, or dead-lettered when attempts are used up. */
  nack(options?: NackOptions): Promise<'retry' | 'dead'>;
  deadLetter(reason: string, options?: DeadLetterOptions): Promise<void>;
  /** Renews the lease by the subscription's leaseMs (or the given ms). */
  extend(ms?: number): Promise<void>;
  /** Gives the delivery back without counting an attempt (graceful shutdown). */
  release(): Promise<void>;
  /**
   * Admission said "not now" (rate limit, budget, open circuit): back to ready after `delayMs`,
   * no attempt counted, its key still held.
   */
  defer(delayMs: number, reason: string): Promise<void>;
  /**
   * Ends the delivery as cancelled (not failed): nothing it recorded is kept, its key moves on.
   * Events given (agentd.run.cancelled) are published in the same transaction.
   */
  cancel(reason: string, options?: DeadLetterOptions): Promise<void>;
  /** On a batching subscription: every event of the batch, in publish order (`event` is the last). */
  readonly events?: readonly AgentdEvent[];
  /** The key the bus ordered this delivery by (route key or partitionkey), if any. */
  readonly key?: string;
  /**
   * ctx.waitForEvent: parks the delivery (neither leased nor ready, its key still held, no
   * attempt counted) until an event matching `wait` is published or its deadline passes; either
   * outcome is memoized as the step `wait.step` and the delivery becomes ready again. Actions and
   * events given are recorded in the same transaction. Absent on buses that cannot park.
   */
  park?(wait: WaitRequest, options?: ParkOptions): Promise<void>;
  /** Step results memoized for this (subscription, event) by earlier attempts. */
  loadSteps(): Promise<Map<string, unknown>>;
  /**
   * Durably memoizes a step's result (JSON). The first stored result wins; the stored value is
   * returned, so racing attempts agree.
   */
  saveStep(name: string, value: unknown): Promise<unknown>;
}

export interface PullOptions {
  max: number;
  /** Wait up to this long for something to arrive; 0 returns at once. */
  waitMs: number;
  signal?: AbortSignal;
}

export interface Subscription {
  readonly name: string;
  pull(options: PullOptions): Promise<Delivery[]>;
  /** Registers a listener for cancelled leased deliveries; returns the unsubscribe function. */
  onCancel?(listener: CancelListener): () => void;
}

export interface DeadLetter {
  deliveryId: string;
  subscription: string;
  event: AgentdEvent;
  attempts: number;
  reason: string;
  errors: ErrorRecord[];
  deadAt: string;
}

export interface DeadLetterFilter {
  subscription?: string;
  type?: string;
  limit?: number;
}

export interface DeadLetterQueue {
  list(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  show(deliveryId: string): Promise<DeadLetter | undefined>;
  /**
   * Delivers each again from attempt 1, behind anything already queued for its key. Memoized steps
   * are kept (the run resumes) unless `fresh` is set.
   */
  replay(deliveryIds: readonly string[], options?: { fresh?: boolean }): Promise<number>;
  purge(deliveryIds: readonly string[] | 'all'): Promise<number>;
}

export interface Bus {
  publish(events: readonly AgentdEvent[], options?: PublishOptions): Promise<PublishResult[]>;
  subscribe(name: string, options: SubscriptionOptions): Promise<Subscription>;
  /** Stops fanning new events out to subscriptions not named here (routes removed from config). */
  retainSubscriptions(names: readonly string[]): Promise<void>;
  /** True when some active subscription would receive an event of this type. */
  hasSubscribers(type: string): boolean;
  /**
   * Unfinished deliveries (waiting, ready, leased, parked) per active subscription, for
   * backpressure and `agentd status`. May be a little stale (cached for up to ~250 ms).
   */
  backlogs(): Promise<ReadonlyMap<string, number>>;
  /** Names of active subscriptions that would receive an event of this type. */
  subscribersOf(type: string): readonly string[];
  readonly dlq: DeadLetterQueue;
  /** Events refused at ingest (a bus without an ingest gate may have none). */
  readonly quarantine?: Quarantine;
  /** Where recorded outbox actions are kept; absent on buses that cannot record them. */
  readonly outbox?: OutboxStore;
  close(): Promise<void>;
}

export const DEFAULT_SUBSCRIPTION: Omit<SubscriptionOptions, 'types'> = {
  maxAttempts: 5,
  backoff: { initialMs: 1_000, maxMs: 5 * 60_000, factor: 2 },
  leaseMs: 30_000,
  ordering: 'key',
};

/** Exponential backoff with equal jitter: half the delay is fixed, half random. */
export function backoffDelay(policy: BackoffPolicy, attempt: number): number {
  const exp = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}
