// The outbox on NATS: one KV entry per action in the `<stream>_outbox` bucket, created when its run's
// ack (or park) records it — first writer wins, so an idempotency key is recorded once. Every
// daemon may dispatch: claims and settlements are compare-and-sets on the entry's revision (a claim
// is a lease, `leaseUntil`, that any dispatcher takes back once it lapses), lanes are lock entries,
// and a state change's agentd.action.* events are kept in the entry until they are out.
import { randomInt } from 'node:crypto';
import type { AgentdEvent } from '../../core/envelope.js';
import type {
  ActionError,
  ActionFilter,
  ActionState,
  ClaimOptions,
  OutboxStore,
  RecordedAction,
  StoredAction,
} from '../outbox-store.js';
import type { Versioned } from './kv-bucket.js';
import { LaneLocks } from './lane-lock.js';
import {
  actionKey,
  announcing,
  FINISHED_STATES,
  runOrder,
  settled,
  toStored,
  type ActionEntry,
} from './outbox-entry.js';
import { OutboxLedger, type LedgerHost } from './outbox-ledger.js';

const LAPSED = 'its dispatcher stopped while sending (the claim lapsed); it may have been sent';

export class NatsOutbox implements OutboxStore {
  private readonly ledger: OutboxLedger;
  private readonly lanes: LaneLocks;
  /** Dispatchers in different processes try due actions in different orders: fewer lost races. */
  private readonly salt = randomInt(1, 2 ** 31 - 1);

  constructor(host: LedgerHost) {
    this.ledger = new OutboxLedger(host);
    this.lanes = new LaneLocks(host.store.state);
  }

  /** Records a run's staged actions: one create() each, so a key recorded before is dropped. */
  async record(actions: readonly RecordedAction[], at: number): Promise<void> {
    await this.ledger.record(actions, at);
  }

  async claim(options: ClaimOptions): Promise<StoredAction[]> {
    const { max, now, leaseMs } = options;
    if (max <= 0) return [];
    await this.ledger.opened();
    await this.recover(now);
    const claimed: StoredAction[] = [];
    for (const candidate of this.candidates(now, max * 4 + 32)) {
      if (claimed.length >= max) break;
      const stored = toStored(candidate.value);
      if (!options.pick(stored)) continue;
      const taken = await this.take(candidate, now, leaseMs);
      if (taken === undefined) options.unpick?.(stored);
      else claimed.push(taken);
    }
    return claimed;
  }

  async complete(action: StoredAction, result: unknown, publish: readonly AgentdEvent[]) {
    const now = Date.now();
    await this.finish(action, (e) => ({
      ...settled(e, now),
      state: 'done',
      result: result ?? null,
      finishedAt: now,
      ...announcing(publish),
    }));
  }

  async retry(action: StoredAction, availableAt: number, error: ActionError): Promise<void> {
    await this.finish(action, (e) => ({
      ...settled(e, Date.now()),
      state: 'pending',
      availableAt,
      errors: [...e.errors, error],
    }));
  }

  async fail(
    action: StoredAction,
    reason: string,
    error: ActionError,
    publish: readonly AgentdEvent[],
  ): Promise<void> {
    const now = Date.now();
    await this.finish(action, (e) => ({
      ...settled(e, now),
      state: 'dead',
      reason,
      errors: [...e.errors, error],
      finishedAt: now,
      ...announcing(publish),
    }));
  }

  /** Claims that lapsed (their dispatcher died mid-send): due again, their sinks check first. */
  async recover(now: number): Promise<StoredAction[]> {
    await this.ledger.opened();
    const lapsed = [...this.ledger.view.openEntries()].filter(
      ({ value }) => value.state === 'sending' && (value.leaseUntil ?? 0) < now,
    );
    const recovered: StoredAction[] = [];
    for (const { value } of lapsed) {
      const next = await this.ledger.transition(
        value.id,
        (e) => e.state === 'sending' && e.attempt === value.attempt && (e.leaseUntil ?? 0) < now,
        (e) => ({
          ...settled(e, now),
          state: 'pending',
          availableAt: now,
          errors: [
            ...e.errors,
            { attempt: e.attempt, at: new Date(now).toISOString(), error: LAPSED },
          ],
        }),
      );
      if (next !== undefined) recovered.push(toStored(next));
    }
    return recovered;
  }

  async expireApprovals(
    now: number,
    publish: (action: StoredAction) => AgentdEvent[],
  ): Promise<StoredAction[]> {
    await this.ledger.opened();
    const due = [...this.ledger.view.openEntries()].filter(
      ({ value }) => value.state === 'pending-approval' && (value.expiresAt ?? Infinity) <= now,
    );
    return this.decide(
      due.map(({ value }) => value.id),
      'pending-approval',
      (e) => ({
        ...settled(e, now),
        state: 'expired',
        reason: 'no approval before it expired',
        finishedAt: now,
      }),
      publish,
      (e) => (e.expiresAt ?? Infinity) <= now,
    );
  }

  async nextDueAt(): Promise<number | undefined> {
    await this.ledger.opened();
    let next: number | undefined;
    for (const { value } of this.ledger.view.openEntries()) {
      // A claim that lapses is due then too: some dispatcher must take it back.
      const at =
        value.state === 'pending'
          ? value.availableAt
          : value.state === 'sending'
            ? (value.leaseUntil ?? 0) + 1
            : undefined;
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }

  async list(filter: ActionFilter = {}): Promise<StoredAction[]> {
    await this.ledger.opened();
    const found: ActionEntry[] = [];
    for (const { value } of this.ledger.view.all()) {
      if (filter.state !== undefined && value.state !== filter.state) continue;
      if (filter.sink !== undefined && value.sink !== filter.sink) continue;
      if (filter.route !== undefined && value.route !== filter.route) continue;
      if (filter.runId !== undefined && value.runId !== filter.runId) continue;
      found.push(value);
    }
    return found
      .sort((a, b) => runOrder(b, a))
      .slice(0, filter.limit ?? 100)
      .map(toStored);
  }

  async show(id: string): Promise<StoredAction | undefined> {
    if (!/^\d{1,16}$/.test(id)) return undefined;
    const found = await this.ledger.bucket.get<ActionEntry>(actionKey(id));
    return found === undefined ? undefined : toStored(found.value);
  }

  async approve(ids: readonly string[], by: string): Promise<StoredAction[]> {
    const now = Date.now();
    return this.decide(ids, 'pending-approval', (e) => ({
      ...e,
      state: 'pending',
      availableAt: now,
      decidedBy: by,
      updatedAt: now,
    }));
  }

  async reject(
    ids: readonly string[],
    by: string,
    reason: string,
    publish: (action: StoredAction) => AgentdEvent[],
  ): Promise<StoredAction[]> {
    const now = Date.now();
    return this.decide(
      ids,
      'pending-approval',
      (e) => ({ ...e, state: 'rejected', decidedBy: by, reason, finishedAt: now, updatedAt: now }),
      publish,
    );
  }

  async retryDead(ids: readonly string[] | 'all'): Promise<number> {
    const now = Date.now();
    const list = ids === 'all' ? await this.idsIn(['dead']) : ids;
    const retried = await this.decide(list, 'dead', (e) => ({
      ...e,
      state: 'pending',
      attempt: 0,
      availableAt: now,
      reason: null,
      finishedAt: null,
      updatedAt: now,
    }));
    return retried.length;
  }

  async purge(
    ids: readonly string[] | 'all',
    states: readonly ActionState[] = ['dead'],
  ): Promise<number> {
    const allowed = states.filter((s) => FINISHED_STATES.includes(s));
    if (allowed.length === 0) return 0;
    const list = ids === 'all' ? await this.idsIn(allowed) : ids.filter(isId);
    let purged = 0;
    for (const id of list) {
      const found = await this.ledger.bucket.get<ActionEntry>(actionKey(id));
      if (found === undefined || !allowed.includes(found.value.state)) continue;
      if (await this.ledger.bucket.purgeAt(actionKey(id), found.revision)) {
        this.ledger.view.remove(id, found.revision);
        purged++;
      }
    }
    return purged;
  }

  /**
   * A run that waits for an action's event may have parked in another process whose wait this one
   * has not heard of yet, so besides the routes that listen, every action event is stored.
   */
  wantsEvent(_type: string): boolean {
    return true;
  }

  onChange(callback: () => void): void {
    this.ledger.onChange(callback);
  }

  async close(): Promise<void> {
    await this.ledger.close();
  }

  /** Due actions that head their run, whose lane is free, in the order this process tries them. */
  private candidates(now: number, limit: number): Versioned<ActionEntry>[] {
    const heads = new Map<string, Versioned<ActionEntry>>();
    const busyLanes = new Set<string>();
    for (const found of this.ledger.view.openEntries()) {
      const { value } = found;
      const head = heads.get(value.runId);
      if (head === undefined || runOrder(value, head.value) < 0) heads.set(value.runId, found);
      if (value.state === 'sending' && value.lane !== undefined) busyLanes.add(value.lane);
    }
    const spread = (id: string) => Math.imul(Number(id.slice(-9)), this.salt) >>> 0;
    return [...heads.values()]
      .filter(
        ({ value }) =>
          value.state === 'pending' &&
          value.availableAt <= now &&
          (value.lane === undefined || !busyLanes.has(value.lane)),
      )
      .sort(
        (a, b) =>
          a.value.availableAt - b.value.availableAt || spread(a.value.id) - spread(b.value.id),
      )
      .slice(0, limit);
  }

  private async take(
    candidate: Versioned<ActionEntry>,
    now: number,
    leaseMs: number,
  ): Promise<StoredAction | undefined> {
    const entry = candidate.value;
    const until = now + leaseMs;
    if (entry.lane !== undefined && !(await this.lanes.acquire(entry.lane, entry.id, until, now)))
      return undefined;
    const next: ActionEntry = {
      ...entry,
      state: 'sending',
      attempt: entry.attempt + 1,
      leaseUntil: until,
      updatedAt: now,
    };
    const revision = await this.ledger.bucket.swap(actionKey(entry.id), next, candidate.revision);
    if (revision === 0) {
      if (entry.lane !== undefined) await this.lanes.release(entry.lane, entry.id);
      return undefined;
    }
    this.ledger.view.put(entry.id, next, revision);
    return toStored(next);
  }

  /** Settles the attempt that claimed `action`; nothing when its claim lapsed and moved on. */
  private async finish(
    action: StoredAction,
    change: (entry: ActionEntry) => ActionEntry,
  ): Promise<void> {
    const next = await this.ledger.transition(
      action.id,
      (e) => e.state === 'sending' && e.attempt === action.attempt,
      change,
    );
    if (action.lane !== undefined) await this.lanes.release(action.lane, action.id);
    if (next !== undefined) await this.ledger.announce(next);
    this.ledger.changed();
  }

  /** Moves entries from state `from` by `change`; publishes what `publish` builds for each. */
  private async decide(
    ids: readonly string[],
    from: ActionState,
    change: (entry: ActionEntry) => ActionEntry,
    publish?: (action: StoredAction) => AgentdEvent[],
    guard: (entry: ActionEntry) => boolean = () => true,
  ): Promise<StoredAction[]> {
    const decided: StoredAction[] = [];
    for (const id of ids.filter(isId)) {
      const next = await this.ledger.transition(
        id,
        (e) => e.state === from && guard(e),
        (e) => {
          const moved = change(e);
          return publish === undefined
            ? moved
            : { ...moved, ...announcing(publish(toStored(moved))) };
        },
      );
      if (next === undefined) continue;
      await this.ledger.announce(next);
      decided.push(toStored(next));
    }
    if (decided.length > 0) this.ledger.changed();
    return decided;
  }

  private async idsIn(states: readonly ActionState[]): Promise<string[]> {
    await this.ledger.opened();
    return [...this.ledger.view.all()]
      .filter(({ value }) => states.includes(value.state))
      .map(({ value }) => value.id);
  }
}

function isId(id: string): boolean {
  return /^\d{1,16}$/.test(id);
}
