// Routes: an event type pattern plus options, each becoming a subscription of its own.
import type { AgentdEvent, EventInput } from './envelope.js';
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
}

export type Handler<TData = unknown> = (event: AgentdEvent<TData>, ctx: HandlerContext) => unknown;

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
  retries?: RetryOptions;
  /** Abort the handler after this long. Default 5 minutes. */
  timeoutMs?: number;
  /**
   * 'key' (default): events sharing a partitionkey run one at a time, in publish order, and a
   * retry waiting for its backoff holds its key. 'none': ignore keys for this route.
   */
  ordering?: 'key' | 'none';
}

export interface RouteDefinition<TData = unknown> extends RouteOptions<TData> {
  types: readonly string[];
}

/** Declares a route: `on('github.pull_request.*', { handler })`. */
export function on<TData = unknown>(
  types: string | readonly string[],
  options: RouteOptions<TData>,
): RouteDefinition<TData> {
  return { ...options, types: typeof types === 'string' ? [types] : [...types] };
}
