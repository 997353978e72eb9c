// A subscription's consumer side on SQLite: pull claims leases (waiting for work when there is
// none) and hands each claimed delivery, or batch, to a SqliteDelivery that settles it.
import type {
  CancelListener,
  Delivery,
  PullOptions,
  Subscription,
  SubscriptionOptions,
} from '../bus.js';
import type { BatchMember } from './batch-sql.js';
import type { ClaimedRow } from './claim-sql.js';
import { SqliteDelivery, type DeliveryHost } from './sqlite-delivery.js';

export interface SubscriptionHost extends DeliveryHost {
  readonly isClosed: boolean;
  sweepLeasesIfDue(now: number): void;
  /** When (on the bus clock) something of the subscription may next become claimable. */
  nextWakeAt(name: string): number | undefined;
  /**
   * Resolves on the next relevant commit (ours or another process's), when `ms` of real time
   * pass, or when the bus clock reaches `wakeAt`.
   */
  waitForChange(
    ms: number,
    wakeAt: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void>;
  addCancelListener(sub: string, listener: CancelListener): () => void;
}

interface Claimed {
  row: ClaimedRow;
  members: BatchMember[] | undefined;
}

export class SqliteSubscription implements Subscription {
  constructor(
    private readonly host: SubscriptionHost,
    readonly name: string,
    private readonly options: SubscriptionOptions,
  ) {}

  // waitMs is the caller's patience, in real time; whether a delivery is available is the bus
  // clock's call. A manual clock wakes a waiting pull through its timers when it is advanced.
  async pull({ max, waitMs, signal }: PullOptions): Promise<Delivery[]> {
    const deadline = Date.now() + Math.max(0, waitMs);
    for (;;) {
      if (this.host.isClosed || signal?.aborted) return [];
      const claimed = await this.host.write(() => this.claim(Math.max(1, max)));
      if (claimed.length > 0)
        return claimed.map(
          ({ row, members }) =>
            new SqliteDelivery(this.host, this.name, this.options, row, members),
        );
      const left = deadline - Date.now();
      if (left <= 0) return [];
      await this.host.waitForChange(left, this.host.nextWakeAt(this.name), signal);
    }
  }

  onCancel(listener: CancelListener): () => void {
    return this.host.addCancelListener(this.name, listener);
  }

  /** Inside a write: leases up to `max` deliveries, with each batch's members. */
  private claim(max: number): Claimed[] {
    const now = this.host.now();
    this.host.sweepLeasesIfDue(now);
    const { claims, fair, batches } = this.host.sql;
    const leaseUntil = now + this.options.leaseMs;
    const fairness = this.options.fairness !== undefined;
    const rows = fairness
      ? claims.claimFair(this.name, max, now, leaseUntil)
      : claims.claim(this.name, max, now, leaseUntil);
    if (fairness && rows.length > 0) {
      let vt = Number.NEGATIVE_INFINITY;
      const keys: string[] = [];
      for (const row of rows) {
        if (row.vt !== null) vt = Math.max(vt, row.vt);
        if (row.rkey !== null) keys.push(row.rkey);
      }
      if (vt > Number.NEGATIVE_INFINITY) fair.claimed(this.name, vt, keys);
    }
    const batching = this.options.batch !== undefined;
    return rows.map((row) => ({ row, members: batching ? batches.members(row.id) : undefined }));
  }
}
