// The Sink contract: deliver one action, at most once in effect, given its idempotency key. A sink
// answers with JSON (ids, URLs) or throws a SinkError that says whether trying again can help.
import { AgentdError } from '../core/errors.js';

export interface SinkDelivery {
  key: string;
  action: string;
  params: unknown;
  /** When the action was recorded (ms): a sink looking for its own earlier send starts there. */
  recordedAt: number;
  /**
   * True when an earlier attempt may have reached the service (it failed, timed out or was cut
   * short by a crash): the sink looks for its own earlier result before acting again.
   */
  mayHaveSent: boolean;
  signal: AbortSignal;
}

export interface Sink {
  readonly name: string;
  /** Sends the action; resolves with what the service answered (stored as the action's result). */
  deliver(delivery: SinkDelivery): Promise<unknown>;
}

const MAX_BODY = 4_096;

/** A failed send: `retryable` steers the dispatcher; status and body go to the outbox DLQ. */
export class SinkError extends AgentdError {
  readonly status: number | undefined;
  readonly body: string | undefined;

  constructor(
    message: string,
    options: {
      retryable: boolean;
      retryAfterMs?: number | undefined;
      status?: number | undefined;
      body?: unknown;
      cause?: unknown;
    },
  ) {
    super(message, {
      code: 'SINK_FAILED',
      retryable: options.retryable,
      ...(options.retryAfterMs === undefined ? {} : { retryAfterMs: options.retryAfterMs }),
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.status = options.status;
    this.body = options.body === undefined ? undefined : truncateBody(options.body);
  }
}

/** 408, 409 (a concurrent change), 425, 429 and 5xx may succeed later; other 4xx will not. */
export function retryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 425 || status === 429 || status >= 500;
}

/** `Retry-After` in seconds or as an HTTP date, in ms from now; undefined when absent or bad. */
export function retryAfterMs(
  value: string | null | undefined,
  now = Date.now(),
): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1_000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function truncateBody(body: unknown): string {
  const text = typeof body === 'string' ? body : (JSON.stringify(body) ?? String(body));
  return text.length <= MAX_BODY ? text : `${text.slice(0, MAX_BODY)}… (truncated)`;
}

/** A network failure or timeout: the request may or may not have arrived, so try again. */
export function transportError(sink: string, error: unknown): SinkError {
  const message = error instanceof Error ? error.message : String(error);
  return new SinkError(`${sink}: request failed: ${message}`, { retryable: true, cause: error });
}
