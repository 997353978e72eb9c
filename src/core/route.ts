// Routes: an event type pattern plus options, each becoming a subscription of its own.
import type { AgentdEvent, EventInput } from './envelope.js';
import type { ApprovalOption, EventMatch, Outbox, WaitForEvent } from './outbox-api.js';
import type { ContractVersion } from './event-type.js';
import type { RunTracer } from './run-tracer.js';
import type { Logger } from 'pino';

export interface RunInfo {
  /** The delivery id: one run per (route, event), kept across its attempts. */
  id: string;
  route: string;
  attempt: number;
  maxAttempts: number;
}

export interface HandlerContext {
  readonly run: RunInfo;
  /** Fires on timeout, on shutdown after the grace period, or when the lease is lost. */
  readonly signal: AbortSignal;
  readonly log: Logger;
  /**
   * Runs `fn` once per event and route: its JSON result is stored durably, and a redelivered event
   * gets the stored result back instead of running `fn` again. Repeated names are numbered.
   */
  step<T>(name: string, fn: () => T | Promise<T>): Promise<T>;
  /** Queues events to publish with this run's ack (discarded if the run fails). */
  emit(events: EventInput | readonly EventInput[]): AgentdEvent[];
  /**
   * Actions on the world (`ctx.outbox.github.comment(...)`), recorded with the run's ack and sent
   * afterwards by the dispatcher, each once: a failed run records none.
   */
  readonly outbox: Outbox;
  /**
   * Waits durably for an event of `type` matching `match`: the run parks (holding no worker slot,
   * surviving restarts) and resumes when one is published, replaying its steps up to here.
   */
  readonly waitForEvent: WaitForEvent;
  /**
   * Spans of the handler's own under the run's span (a no-op unless the daemon traces). Optional
   * so that contexts made by hand (tests, wrappers) need not carry one.
   */
  readonly trace?: RunTracer;
  /**
   * Books what this attempt spent on a model call that ran (not one replayed from a step): agents
   * call it after each. Budgets charge what an attempt booked whatever became of it, so a run that
   * fails or is cancelled after spending is charged too; a handler that books nothing is charged the
   * `usage` its result or error reports. Optional so that contexts made by hand need not have it.
   */
  spend?(spent: Spent): void;
}

/** Tokens (input and output together) and US dollars, as ctx.spend books them. */
export interface Spent {
  tokens: number;
  costUsd?: number | undefined;
}

export type Handler<TData = unknown> = (event: AgentdEvent<TData>, ctx: HandlerContext) => unknown;

/** A batching route's handler: the events of one batch, in publish order. */
export type BatchHandler<TData = unknown> = (
  events: readonly AgentdEvent<TData>[],
  ctx: HandlerContext,
) => unknown;

/**
 * A key expression over the event: a path (`'data.pull_request.number'`, `'subject'`) or a
 * template of paths in braces (`'{subject}#{data.number}'`). An event whose path is missing has
 * no key (it is ordered, debounced and limited on its own).
 */
export type KeyExpression = string;

/** A token bucket: `limit` runs per `periodMs`, for the whole route or for each key. */
export interface RateLimit {
  limit: number;
  periodMs: number;
  /** 'route' (default): one bucket for the route; 'key': one bucket per route key. */
  per?: 'route' | 'key';
}

/** Token and cost budget over a calendar window (UTC), fed by agent runs' usage. */
export interface Budget {
  tokens?: number;
  costUsd?: number;
  window: 'hour' | 'day' | 'month';
  /** Fractions at which `agentd.budget.threshold` is emitted once per window. Default [0.5, 0.8, 1]. */
  thresholds?: readonly number[];
  /** Reserved before a run starts and settled after it. Default: the mean of recent runs. */
  reserve?: { tokens?: number; costUsd?: number };
}

export interface RetryOptions {
  /** Attempts before the dead-letter queue, the first included. Default 5. */
  maxAttempts?: number;
  /** Backoff: delay before the 2nd attempt, doubling (factor) up to maxMs, with jitter. */
  initialMs?: number;
  maxMs?: number;
  factor?: number;
}

export interface RouteOptions<TData = unknown> {
  /** Stable name: the route's subscription (its backlog, runs and DLQ) is kept under it. */
  name?: string;
  handler: Handler<TData>;
  /** Runs before the handler; false marks the delivery skipped. */
  filter?: (event: AgentdEvent<TData>) => boolean;
  /** Runs of this route at once. Default 8. */
  concurrency?: number;
  /**
   * The route's key (ordering, fairness, singleton, cancelOn, debounce, per-key rate limits).
   * Default: the event's `partitionkey`.
   */
  key?: KeyExpression;
  /** Ready keys are served round-robin; a key's weight is its share (default 1). */
  fairness?: { weights?: Readonly<Record<string, number>> };
  /** Higher runs first when the global concurrency is scarce. Default 0. */
  priority?: number;
  /** One run per key: 'skip' drops a newer event while one is queued or running, 'replace'
   * cancels the older one. */
  singleton?: { key?: KeyExpression; mode: 'skip' | 'replace' };
  /** An event of `type` (matching `match`) with the same route key cancels the queued or running run. */
  cancelOn?: readonly { type: string; match?: EventMatch }[];
  rateLimit?: RateLimit | readonly RateLimit[];
  /** A burst of events per key runs the handler once, with the last event, `waitMs` after the
   * last one and no later than `maxWaitMs` after the first. */
  debounce?: { key?: KeyExpression; waitMs: number; maxWaitMs?: number };
  budget?: Budget;
  /** Unfinished deliveries this route may hold; past it the ingress answers 429. Default 10,000. */
  maxBacklog?: number;
  retries?: RetryOptions;
  /** Abort the handler after this long. Default 5 minutes. */
  timeoutMs?: number;
  /**
   * 'key' (default): events sharing a partitionkey run one at a time, in publish order, and a
   * retry waiting for its backoff holds its key. 'none': ignore keys for this route.
   */
  ordering?: 'key' | 'none';
  /** Record this route's outbox actions without sending them (see `agentd outbox list`). */
  dryRun?: boolean;
  /** Every outbox action of this route waits for an operator's approval. */
  approval?: ApprovalOption;
  /**
   * The contract version the handler is written for: `'v2'` (each event's own type, at v2),
   * `'agentd:<type>/v2'`, or a handle (`on(invoicePaid.v2, ...)` sets it). Older stored events are
   * upcast through the type's chain before the filter and handler see them.
   */
  accepts?: string | ContractVersion;
}

/** What a route declared with a contract version sees: `data` checked, upcast and typed. */
export type ContractEvent<TData> = AgentdEvent<TData> & { data: TData };

export interface ContractRouteOptions<TData> extends Omit<
  RouteOptions<TData>,
  'accepts' | 'handler' | 'filter'
> {
  handler: (event: ContractEvent<TData>, ctx: HandlerContext) => unknown;
  filter?: (event: ContractEvent<TData>) => boolean;
}

/** Batching: the handler gets up to `maxSize` events of one key, at most `maxWaitMs` after the first. */
export interface BatchOptions {
  maxSize: number;
  maxWaitMs: number;
  key?: KeyExpression;
}

export interface BatchRouteOptions<TData = unknown> extends Omit<
  RouteOptions<TData>,
  'handler' | 'debounce' | 'singleton' | 'accepts'
> {
  batch: BatchOptions;
  handler: BatchHandler<TData>;
}

export interface RouteDefinition<TData = unknown> extends RouteOptions<TData> {
  types: readonly string[];
  /** Set on batching routes: `handler` is then a BatchHandler, called with the batch's events. */
  batch?: BatchOptions;
}

/**
 * Declares a route: `on('github.pull_request.*', { handler })`, or `on(invoicePaid.v2, { handler })`
 * for the types of a contract, with `event.data` typed and upcast to that version.
 */
export function on<TData>(
  contract: ContractVersion<TData>,
  options: ContractRouteOptions<TData>,
): RouteDefinition<TData>;
export function on<TData = unknown>(
  types: string | readonly string[],
  options: BatchRouteOptions<TData>,
): RouteDefinition<TData>;
export function on<TData = unknown>(
  types: string | readonly string[],
  options: RouteOptions<TData>,
): RouteDefinition<TData>;
export function on<TData = unknown>(
  types: string | readonly string[] | ContractVersion<TData>,
  given: RouteOptions<TData> | ContractRouteOptions<TData> | BatchRouteOptions<TData>,
): RouteDefinition<TData> {
  // A contract route's handler is only ever given events checked and upcast to its version; a
  // batching route's handler (marked by `batch`) is only ever given arrays of events.
  const options = given as RouteOptions<TData>;
  if (typeof types === 'string') return { ...options, types: [types] };
  if (isTypeList(types)) return { ...options, types: [...types] };
  return { ...options, types: [...types.types], accepts: types };
}

function isTypeList(value: readonly string[] | ContractVersion): value is readonly string[] {
  return Array.isArray(value);
}
