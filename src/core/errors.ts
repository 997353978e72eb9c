// Named errors that carry their own retry semantics, so the retry loop reads the error, not the message.

export interface AgentdErrorOptions {
  code?: string;
  retryable?: boolean;
  retryAfterMs?: number;
  cause?: unknown;
}

export class AgentdError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, options: AgentdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? 'AGENTD_ERROR';
    this.retryable = options.retryable ?? true;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Thrown by a handler to stop retrying: the delivery goes straight to the dead-letter queue. */
export class NonRetryableError extends AgentdError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: 'NON_RETRYABLE', retryable: false });
  }
}

/** Thrown by a handler to retry after a given delay instead of the route's backoff. */
export class RetryAfterError extends AgentdError {
  constructor(message: string, retryAfterMs: number, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: 'RETRY_AFTER', retryable: true, retryAfterMs });
  }
}

/** Bad input from outside (an event, a config, a CLI argument): never retried, always explained. */
export class ValidationError extends AgentdError {
  readonly issues: readonly string[];

  constructor(message: string, issues: readonly string[] = []) {
    super(message, { code: 'VALIDATION', retryable: false });
    this.issues = issues;
  }
}

/** The handler ran past its route's timeoutMs; retried like any other failure. */
export class HandlerTimeoutError extends AgentdError {
  constructor(timeoutMs: number) {
    super(`handler timed out after ${timeoutMs} ms`, { code: 'TIMEOUT', retryable: true });
  }
}

/** An ack, nack or extend on a delivery whose lease has already passed to another attempt. */
export class LeaseLostError extends AgentdError {
  constructor(deliveryId: string) {
    super(`delivery ${deliveryId} is no longer leased by this worker`, {
      code: 'LEASE_LOST',
      retryable: false,
    });
  }
}

/**
 * The run was cancelled by a newer event for its key (singleton 'replace', cancelOn) or by an
 * operator: it ends as cancelled, not failed, and what it recorded is discarded.
 */
export class RunCancelledError extends AgentdError {
  constructor(readonly reason: string) {
    super(`run cancelled: ${reason}`, { code: 'CANCELLED', retryable: false });
  }
}

/**
 * The bus cannot take or hand out events right now (e.g. NATS is unreachable). Nothing was stored
 * by the failed call; retrying it later is safe (publishes are deduplicated on (source, id)).
 */
export class BusUnavailableError extends AgentdError {
  constructor(message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, {
      code: 'BUS_UNAVAILABLE',
      retryable: true,
      retryAfterMs: options.retryAfterMs ?? 1_000,
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
  }
}

/**
 * ctx.waitForEvent gave up: no matching event came within `timeoutMs`. Not retried (a retry would
 * replay the same timeout); catch it in the handler to carry on without the event.
 */
export class EventWaitTimeoutError extends AgentdError {
  constructor(type: string, timeoutMs: number | undefined) {
    super(
      `no ${type} event matched within ${timeoutMs === undefined ? 'the wait' : `${timeoutMs} ms`}`,
      { code: 'WAIT_TIMEOUT', retryable: false },
    );
  }
}

export interface RetrySteering {
  retryable: boolean;
  retryAfterMs: number | undefined;
}

/**
 * Reads retry semantics off any thrown value. Duck-typed on purpose: a config file may import agentd
 * from a different copy of the package than the daemon runs, so `instanceof` would lie.
 */
export function retrySteering(error: unknown): RetrySteering {
  if (typeof error === 'object' && error !== null) {
    const e = error as { retryable?: unknown; retryAfterMs?: unknown };
    return {
      retryable: e.retryable !== false,
      retryAfterMs:
        typeof e.retryAfterMs === 'number' && e.retryAfterMs >= 0 ? e.retryAfterMs : undefined,
    };
  }
  return { retryable: true, retryAfterMs: undefined };
}

/**
 * The open circuit (code CIRCUIT_OPEN) behind a failure, looked for along its `cause` chain: a run
 * that only failed because a provider's circuit is open waits for the cool-down instead of
 * spending an attempt. Duck-typed for the same reason as retrySteering.
 */
export function openCircuitIn(
  error: unknown,
): { message: string; retryAfterMs: number } | undefined {
  for (let e = error, hops = 0; typeof e === 'object' && e !== null && hops < 8; hops++) {
    const found = e as {
      code?: unknown;
      retryAfterMs?: unknown;
      message?: unknown;
      cause?: unknown;
    };
    if (found.code === 'CIRCUIT_OPEN' && typeof found.retryAfterMs === 'number')
      return { message: String(found.message), retryAfterMs: Math.max(0, found.retryAfterMs) };
    e = found.cause;
  }
  return undefined;
}

/** One line that names what went wrong, for logs and error histories. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error));
}
