// Leases nobody settles: taken back once they expire (or all at once at a daemon's start), and
// retried with backoff, dead-lettered when attempts are used up, or cancelled when the bus had
// asked them to stop. Wait deadlines are swept on the same beat.
import type { AgentdEvent } from '../../core/envelope.js';
import { backoffDelay, type SubscriptionOptions } from '../bus.js';
import type { ExpiredLease } from './claim-sql.js';
import type { DeliveryHost } from './sqlite-delivery.js';

export interface LeaseHost extends DeliveryHost {
  /** The options this process subscribed with (undefined: another process's subscription). */
  subscriptionOptions(sub: string): SubscriptionOptions | undefined;
  batches(sub: string): boolean;
}

const EXPIRED = 'lease expired: the worker crashed or stalled without extending it';
const RECOVERED = 'worker stopped without settling (recovered at start)';

export class LeaseSweeper {
  private nextSweep = 0;

  constructor(
    private readonly host: LeaseHost,
    private readonly intervalMs: number,
    private readonly openedAt: number,
  ) {}

  /** Inside a write: expired leases and due waits, at most once per interval. */
  sweepIfDue(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + this.intervalMs;
    const { waits, claims } = this.host.sql;
    // Waits past their deadline resume their runs, which then see the timeout.
    if (waits.expire(now, 500) > 0) this.host.markReadyChanged();
    for (const lease of claims.expiredLeases(now, 500)) this.expire(lease, now, EXPIRED);
  }

  /** Inside a write: every lease taken before this bus opened (its holder is known to be gone). */
  recover(now: number): number {
    const all = this.host.sql.claims.leasedBefore(this.openedAt);
    for (const lease of all) this.expire(lease, now, RECOVERED);
    return all.length;
  }

  /** When a sweep could next free something of the subscription. */
  nextSweepAt(sub: string): number | undefined {
    const expiry = this.host.sql.claims.nextLeaseExpiry();
    // Expired leases are only swept once per interval (and strictly after lease_until): waking
    // earlier would spin on an empty claim.
    const lease = expiry === undefined ? undefined : Math.max(expiry + 1, this.nextSweep);
    // A wait's deadline is swept with the leases: its run resumes (to time out) then.
    const deadline = this.host.sql.waits.nextDeadline(sub);
    const wait = deadline === undefined ? undefined : Math.max(deadline, this.nextSweep);
    if (lease === undefined) return wait;
    return wait === undefined ? lease : Math.min(lease, wait);
  }

  private expire(lease: ExpiredLease, now: number, message: string): void {
    const { settle } = this.host.sql;
    const batched = this.host.batches(lease.sub);
    if (lease.cancel_reason !== null) {
      const row = settle.cancel(lease.id, lease.attempt, lease.cancel_reason, now);
      if (row !== undefined)
        this.host.endedInTxn(lease.id, row, 'cancelled', lease.cancel_reason, batched, now);
      return;
    }
    const options = this.host.subscriptionOptions(lease.sub);
    const maxAttempts = options?.maxAttempts ?? Number.POSITIVE_INFINITY;
    const record = JSON.stringify({
      attempt: lease.attempt,
      at: new Date(now).toISOString(),
      error: message,
    });
    if (lease.attempt >= maxAttempts) {
      const reason = `${message} (attempt ${lease.attempt} of ${maxAttempts})`;
      const row = settle.dead(lease.id, lease.attempt, reason, record, now);
      if (row === undefined) return;
      const envelope = this.host.sql.claims.envelope(row.seq);
      if (envelope === undefined) return;
      const event = JSON.parse(envelope) as AgentdEvent;
      this.host.deadLetterInTxn(row, event, lease.id, lease.attempt, reason, batched, now);
      return;
    }
    const delay = options === undefined ? 0 : backoffDelay(options.backoff, lease.attempt);
    if (settle.retry(lease.id, lease.attempt, now + delay, record)) this.host.markReadyChanged();
  }
}
