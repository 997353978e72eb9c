// Log lines for ingress refusals under backpressure. A flood is refused thousands of times a
// second: the first refusal of a sender is logged at once, later ones are counted and reported in
// the next line, at most one per `intervalMs` and sender. Senders are config names, so the table
// cannot grow with the traffic.
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../observe/log.js';
import type { BacklogFullError } from './backpressure-error.js';

export const REFUSAL_LOG_INTERVAL_MS = 10_000;

interface SenderLog {
  loggedAt: number;
  /** Refusals since the last line. */
  unlogged: number;
}

export class RefusalLog {
  private readonly senders = new Map<string, SenderLog>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Notes one refused request from `sender`; `fields` (delivery ids) go on a line written now. */
  refused(sender: string, error: BacklogFullError, fields: Record<string, unknown> = {}): void {
    const now = this.clock.now();
    const last = this.senders.get(sender);
    if (last !== undefined && now - last.loggedAt < this.intervalMs) {
      last.unlogged++;
      return;
    }
    const unlogged = last?.unlogged ?? 0;
    this.senders.set(sender, { loggedAt: now, unlogged: 0 });
    this.log.warn(
      {
        source: sender,
        reason: 'backlog-full',
        routes: error.routes,
        retryAfterSeconds: error.retryAfterSeconds,
        ...(unlogged === 0 ? {} : { refusedSinceLastLine: unlogged }),
        ...fields,
      },
      `refused a request from ${sender} with 429: ${error.message}` +
        (unlogged === 0 ? '' : ` (and ${unlogged} more since the last line)`),
    );
  }
}
