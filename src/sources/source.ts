// The Source contract: whatever turns the outside world (webhooks, schedules, file changes,
// processes) into events. Only src/app.ts starts sources; each publishes through the bus.
import type { PublishResult } from '../bus/bus.js';
import type { AgentdEvent } from '../core/envelope.js';
import type { SourceState } from '../core/source-state.js';

export type { SourceState } from '../core/source-state.js';

/** Durable publish: resolves once the events are stored (duplicates are reported, not stored). */
export type Publish = (events: readonly AgentdEvent[]) => Promise<PublishResult[]>;

export interface Source {
  /** Unique among the config's sources; a webhook's URL path is /hooks/<name>. */
  readonly name: string;
  /** The config `kind` it was made from, e.g. "github". */
  readonly kind: string;
  /**
   * Begins producing events into `publish`. Resolves once the source runs, so a source that cannot
   * start fails the daemon's start. When `signal` aborts, the source stops producing; the daemon
   * waits for publishes already in flight before it closes the bus and refuses any later one.
   * `state` is this source's durable key-value store (the daemon always passes one; without it a
   * source keeps its state in memory, forgotten on restart).
   */
  start(publish: Publish, signal: AbortSignal, state?: SourceState): Promise<void>;
  /**
   * Resolves once the source has wound down after `signal` aborted: its child processes exited,
   * its watchers closed. The daemon awaits it before it stops accepting the source's publishes.
   */
  stopped?(): Promise<void>;
}

/** One HTTP request to /hooks/<name>, after the ingress checked its method, type and size. */
export interface WebhookRequest {
  readonly headers: Headers;
  /** The raw body: signatures are computed over these exact bytes. */
  readonly body: Uint8Array;
  /** The ingress span's context: events that carry none join the request's trace. */
  readonly traceparent?: string;
}

export interface WebhookReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/**
 * A source that is a route on the ingress HTTP server. `handle` answers 2xx only after the events
 * it publishes are durable, and throws WebhookRejectedError for requests it refuses.
 */
export interface HttpSource extends Source {
  /** Media types accepted (without parameters); others get 415. */
  readonly contentTypes: readonly string[];
  /** Overrides server.bodyLimitBytes for this endpoint. */
  readonly bodyLimitBytes: number | undefined;
  handle(request: WebhookRequest): Promise<WebhookReply>;
}

export function isHttpSource(source: Source): source is HttpSource {
  return typeof (source as Partial<HttpSource>).handle === 'function';
}
