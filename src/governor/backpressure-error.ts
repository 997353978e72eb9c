// The refusal the ingress gives when a route's backlog is full: nothing was stored, and the error
// says which routes are full and when to come back. HTTP answers it with 429 + Retry-After; cron
// and fs sources coalesce what they hold until then.
import { AgentdError } from '../core/errors.js';

/** A route whose unfinished deliveries reached its maxBacklog. */
export interface FullRoute {
  route: string;
  /** Unfinished deliveries as the gate last saw them (a little stale, see BacklogGate). */
  backlog: number;
  limit: number;
}

export class BacklogFullError extends AgentdError {
  /** Whole seconds to wait, as Retry-After says it (1..60). */
  readonly retryAfterSeconds: number;

  constructor(
    readonly routes: readonly FullRoute[],
    retryAfterSeconds: number,
  ) {
    const names = routes.map((r) => `${r.route} (${r.backlog}/${r.limit})`).join(', ');
    super(
      `the backlog of ${routes.length === 1 ? 'route' : 'routes'} ${names} is full: nothing was stored; retry in ${retryAfterSeconds} s`,
      { code: 'BACKLOG_FULL', retryable: true, retryAfterMs: retryAfterSeconds * 1_000 },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export function isBacklogFull(error: unknown): error is BacklogFullError {
  return error instanceof BacklogFullError;
}
