// ctx.waitForEvent, the run's side: the outcome is a memoized step. Unresolved, the handler is
// stopped by a RunParked signal and the worker parks the delivery; the bus memoizes the matching
// event (or the timeout) and makes the delivery ready, and the replayed handler gets it here.
import type { WaitOutcome, WaitRequest } from '../bus/bus.js';
import type { AgentdEvent } from '../core/envelope.js';
import { EventWaitTimeoutError, NonRetryableError } from '../core/errors.js';
import type { WaitForEventOptions } from '../core/outbox-api.js';

/**
 * Thrown out of the handler when it reaches an unresolved wait. Not an error: the worker parks the
 * run instead of failing it (even when a handler catches this and throws something else).
 */
export class RunParked extends Error {
  constructor(readonly wait: WaitRequest) {
    super(`waiting for a ${wait.type} event (the run is parked and resumes when one arrives)`);
    this.name = 'RunParked';
  }
}

/** The step name a wait's outcome is memoized under, before numbering: `wait:<type>`. */
export function waitStepName(type: string): string {
  return `wait:${type}`;
}

/** Checks what a handler passed, so a bad wait fails at once rather than never matching. */
export function checkWait(type: unknown, options: WaitForEventOptions | undefined): void {
  if (typeof type !== 'string' || !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/.test(type))
    throw new NonRetryableError(
      `ctx.waitForEvent: expected an exact dotted event type such as "slack.message", got ${JSON.stringify(type)}`,
    );
  const match = options?.match;
  if (match !== undefined && (typeof match !== 'object' || match === null || Array.isArray(match)))
    throw new NonRetryableError('ctx.waitForEvent: match must be an object pattern');
  // An undefined field would vanish from the stored pattern and match every event.
  const hole = match === undefined ? undefined : undefinedField(match, 'match');
  if (hole !== undefined)
    throw new NonRetryableError(`ctx.waitForEvent: ${hole} is undefined; give a value to match`);
  const timeoutMs = options?.timeoutMs;
  if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs <= 0))
    throw new NonRetryableError(`ctx.waitForEvent: timeoutMs must be positive, got ${timeoutMs}`);
}

/** The request to park on, for a wait memoized under `step`. */
export function waitRequest(
  step: string,
  type: string,
  options: WaitForEventOptions | undefined,
  now: number,
): WaitRequest {
  const match = options?.match;
  return {
    step,
    type,
    // Stored as JSON and matched after a restart: only what survives JSON counts.
    ...(match === undefined
      ? {}
      : { match: JSON.parse(JSON.stringify(match)) as Record<string, unknown> }),
    ...(options?.timeoutMs === undefined ? {} : { deadline: now + options.timeoutMs }),
  };
}

/** The memoized outcome as waitForEvent's result: the event, or the timeout thrown. */
export function settleWait<T>(
  outcome: WaitOutcome,
  type: string,
  options: WaitForEventOptions | undefined,
): AgentdEvent<T> {
  if ('event' in outcome) return outcome.event as AgentdEvent<T>;
  throw new EventWaitTimeoutError(type, options?.timeoutMs);
}

/** The path of the first undefined value in a pattern, if any. */
function undefinedField(value: unknown, path: string): string | undefined {
  if (value === undefined) return path;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, inner] of Object.entries(value)) {
    const found = undefinedField(
      inner,
      Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`,
    );
    if (found !== undefined) return found;
  }
  return undefined;
}
