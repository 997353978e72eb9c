// Run records in the state bucket: what an attempt must know that JetStream does not keep — the
// error of every failed attempt, and how many deliveries were not attempts (release, delay).
// Written only off the happy path, so a first attempt that succeeds costs no KV write.
import type { AgentdEvent } from '../../core/envelope.js';
import type { ErrorRecord } from '../bus.js';
import { kvKeys } from './names.js';
import type { NatsStore } from './nats-store.js';

export interface RunRecord {
  /** Deliveries that were handed back without running: release, an early delayed delivery. */
  skips: number;
  errors: ErrorRecord[];
}

export const LEASE_EXPIRED =
  'lease expired: the worker crashed or stalled without extending it (or lost NATS)';

export class RunRecords {
  constructor(
    private readonly store: NatsStore,
    private readonly subToken: string,
  ) {}

  async load(seq: number): Promise<RunRecord> {
    const found = await this.store.kvGet<RunRecord>(kvKeys.run(this.subToken, seq));
    return found?.value ?? { skips: 0, errors: [] };
  }

  async save(seq: number, record: RunRecord): Promise<void> {
    await this.store.kvPut(kvKeys.run(this.subToken, seq), record);
  }

  /**
   * Stages the events an ack publishes: the first attempt to stage wins, so an ack that is retried
   * after a crash publishes the very same events again, which NATS then drops as duplicates.
   */
  async stageEmits(seq: number, events: readonly AgentdEvent[]): Promise<AgentdEvent[]> {
    const key = kvKeys.emits(this.subToken, seq);
    if (await this.store.kvCreate(key, events)) return [...events];
    return (await this.store.kvGet<AgentdEvent[]>(key))?.value ?? [...events];
  }
}

/**
 * The attempt number of a delivery and its error history: deliveries minus skips; attempts that
 * left no error behind ended by lease expiry.
 */
export function attemptOf(
  deliveryCount: number,
  record: RunRecord,
  now: number,
): { attempt: number; errors: ErrorRecord[] } {
  const attempt = Math.max(1, deliveryCount - record.skips);
  const byAttempt = new Map(record.errors.map((e) => [e.attempt, e]));
  const errors: ErrorRecord[] = [];
  for (let n = 1; n < attempt; n++) {
    errors.push(
      byAttempt.get(n) ?? { attempt: n, at: new Date(now).toISOString(), error: LEASE_EXPIRED },
    );
  }
  return { attempt, errors };
}
