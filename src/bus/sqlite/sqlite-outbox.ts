// The outbox on the embedded store: actions are rows beside the deliveries, recorded in the ack's
// transaction; the dispatcher's claims and settlements are group-committed writes like any other.
import type { AgentdEvent } from '../../core/envelope.js';
import type {
  ActionError,
  ActionFilter,
  ActionState,
  ClaimOptions,
  OutboxStore,
  StoredAction,
} from '../outbox-store.js';
import type { OutboxStatements } from './outbox-sql.js';

/** What the outbox needs from SqliteBus. */
export interface OutboxHost {
  readonly outboxSql: OutboxStatements;
  write<T>(fn: () => T): Promise<T>;
  publishInTxn(events: readonly AgentdEvent[], now: number): void;
  hasSubscribers(type: string): boolean;
  waitsFor(type: string): boolean;
  /** Reads that need no transaction (the writer connection sees every commit). */
  read<T>(fn: () => T): T;
}

const RECOVERED =
  'the dispatcher stopped while sending (recovered at start); it may have been sent';

export class SqliteOutbox implements OutboxStore {
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly host: OutboxHost) {}

  async claim(options: ClaimOptions): Promise<StoredAction[]> {
    const { max, now, leaseMs } = options;
    if (max <= 0) return [];
    return this.host.write(() => {
      const claimed: StoredAction[] = [];
      // Extra candidates, so that a rate-limited sink's backlog does not starve the others.
      for (const candidate of this.sql.candidates(now, max * 4 + 32)) {
        if (claimed.length >= max) break;
        if (!options.pick(candidate)) continue;
        const attempt = this.sql.markSending(Number(candidate.id), now + leaseMs, now);
        if (attempt !== undefined) claimed.push({ ...candidate, state: 'sending', attempt });
      }
      return claimed;
    });
  }

  async complete(action: StoredAction, result: unknown, publish: readonly AgentdEvent[]) {
    await this.host.write(() => {
      const now = Date.now();
      const json = JSON.stringify(result ?? null);
      if (this.sql.complete(Number(action.id), action.attempt, json, now) && publish.length > 0)
        this.host.publishInTxn(publish, now);
    });
    this.changed();
  }

  async retry(action: StoredAction, availableAt: number, error: ActionError): Promise<void> {
    await this.host.write(() =>
      this.sql.retry(
        Number(action.id),
        action.attempt,
        availableAt,
        JSON.stringify(error),
        Date.now(),
      ),
    );
  }

  async fail(
    action: StoredAction,
    reason: string,
    error: ActionError,
    publish: readonly AgentdEvent[],
  ): Promise<void> {
    await this.host.write(() => {
      const now = Date.now();
      const id = Number(action.id);
      if (
        this.sql.dead(id, action.attempt, reason, JSON.stringify(error), now) &&
        publish.length > 0
      )
        this.host.publishInTxn(publish, now);
    });
    this.changed();
  }

  async recover(now: number): Promise<StoredAction[]> {
    return this.host.write(() => this.sql.recover(now, RECOVERED));
  }

  async expireApprovals(
    now: number,
    publish: (action: StoredAction) => AgentdEvent[],
  ): Promise<StoredAction[]> {
    const expired = await this.host.write(() => {
      const rows = this.sql.expireApprovals(now);
      for (const row of rows) {
        const events = publish(row);
        if (events.length > 0) this.host.publishInTxn(events, now);
      }
      return rows;
    });
    if (expired.length > 0) this.changed();
    return expired;
  }

  async nextDueAt(): Promise<number | undefined> {
    return this.host.read(() => this.sql.nextDueAt());
  }

  async list(filter: ActionFilter = {}): Promise<StoredAction[]> {
    return this.host.read(() => this.sql.list(filter));
  }

  async show(id: string): Promise<StoredAction | undefined> {
    if (!/^\d+$/.test(id)) return undefined;
    return this.host.read(() => this.sql.show(Number(id)));
  }

  async approve(ids: readonly string[], by: string): Promise<StoredAction[]> {
    const approved = await this.host.write(() => {
      const now = Date.now();
      return numeric(ids).flatMap((id) => this.sql.approve(id, by, now) ?? []);
    });
    if (approved.length > 0) this.changed();
    return approved;
  }

  async reject(
    ids: readonly string[],
    by: string,
    reason: string,
    publish: (action: StoredAction) => AgentdEvent[],
  ): Promise<StoredAction[]> {
    const rejected = await this.host.write(() => {
      const now = Date.now();
      return numeric(ids).flatMap((id) => {
        const row = this.sql.reject(id, by, reason, now);
        if (row === undefined) return [];
        const events = publish(row);
        if (events.length > 0) this.host.publishInTxn(events, now);
        return [row];
      });
    });
    if (rejected.length > 0) this.changed();
    return rejected;
  }

  async retryDead(ids: readonly string[] | 'all'): Promise<number> {
    const count = await this.host.write(() => {
      const now = Date.now();
      const list = ids === 'all' ? this.sql.deadIds() : numeric(ids);
      return list.filter((id) => this.sql.retryDead(id, now)).length;
    });
    if (count > 0) this.changed();
    return count;
  }

  async purge(
    ids: readonly string[] | 'all',
    states: readonly ActionState[] = ['dead'],
  ): Promise<number> {
    return this.host.write(() =>
      ids === 'all'
        ? this.sql.purgeAll(states)
        : numeric(ids).filter((id) => this.sql.purge(id, states)).length,
    );
  }

  wantsEvent(type: string): boolean {
    return this.host.hasSubscribers(type) || this.host.read(() => this.host.waitsFor(type));
  }

  onChange(callback: () => void): void {
    this.listeners.push(callback);
  }

  /** Called by the bus after a commit that recorded actions. */
  changed(): void {
    for (const listener of this.listeners) listener();
  }

  private get sql(): OutboxStatements {
    return this.host.outboxSql;
  }
}

function numeric(ids: readonly string[]): number[] {
  return ids.filter((id) => /^\d+$/.test(id)).map(Number);
}
