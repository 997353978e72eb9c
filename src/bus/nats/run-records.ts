// Run records in the state bucket: what an attempt must know that JetStream does not keep — the
// error of every failed attempt, and how many deliveries were not attempts (release, delay, defer).
// Written only off the happy path, so a first attempt that succeeds costs no KV write; a run that
// ends skipped or cancelled (route-governor.ts) says so here, with its reason. Also the staged
// settlements: what an ack (or park) records, written once before any of it goes out.
import type { AgentdEvent } from '../../core/envelope.js';
import type { ErrorRecord } from '../bus.js';
import type { RecordedAction } from '../outbox-store.js';
import { kvKeys } from './names.js';
import type { NatsStore } from './nats-store.js';

export interface RunRecord {
  /** Deliveries of message `seq` that were handed back without running (release, delay, defer). */
  skips: number;
  errors: ErrorRecord[];
  /** Attempts spent by earlier messages of the run (a parked run resumes in a copy). */
  base?: number;
  /** The message `skips` counts for; absent: the run's first message. */
  seq?: number;
  /** Set when the run ended without completing by the route's options (singleton, cancelOn, debounce). */
  ended?: RunEnding;
}

/** How a run ended without running to its end, as the SQLite bus reports it. */
export interface RunEnding {
  status: 'skipped' | 'cancelled';
  reason: string;
  eventId: string;
  at: string;
}

/** What a settlement records, fixed by the first attempt to stage it. */
export interface Staged {
  events: AgentdEvent[];
  actions: RecordedAction[];
  /** When it was staged: recorded actions are ordered by it. */
  at: number;
}

export const LEASE_EXPIRED =
  'lease expired: the worker crashed or stalled without extending it (or lost NATS)';

export const EMPTY_RECORD: RunRecord = { skips: 0, errors: [] };

export class RunRecords {
  constructor(
    private readonly store: NatsStore,
    private readonly subToken: string,
  ) {}

  async load(runSeq: number): Promise<RunRecord> {
    const found = await this.store.kvGet<RunRecord>(kvKeys.run(this.subToken, runSeq));
    return found?.value ?? EMPTY_RECORD;
  }

  async save(runSeq: number, record: RunRecord): Promise<void> {
    await this.store.kvPut(kvKeys.run(this.subToken, runSeq), record);
  }

  /** Every run of the route that ended skipped or cancelled and is still kept, oldest first. */
  async ended(): Promise<(RunEnding & { runSeq: number })[]> {
    const seqs: number[] = [];
    for await (const key of await this.store.kv.keys(kvKeys.runs(this.subToken)))
      seqs.push(Number(key.slice(key.lastIndexOf('.') + 1)));
    seqs.sort((a, b) => a - b);
    const records = await Promise.all(seqs.map((seq) => this.load(seq)));
    return records.flatMap((record, i) =>
      record.ended === undefined ? [] : [{ runSeq: seqs[i]!, ...record.ended }],
    );
  }

  /**
   * Stages what an ack records: the first attempt to stage wins, so an ack that is finished after a
   * crash (by this or another worker) records the very same events and actions again, which NATS
   * and the outbox then drop as duplicates.
   */
  async stageAck(runSeq: number, staged: Staged): Promise<Staged> {
    return this.stage(kvKeys.emits(this.subToken, runSeq), staged);
  }

  /** What an ack of this run staged already, if it got that far: the run is finished. */
  async stagedAck(runSeq: number): Promise<Staged | undefined> {
    const found = await this.store.kvGet<Staged | AgentdEvent[]>(
      kvKeys.emits(this.subToken, runSeq),
    );
    return found === undefined ? undefined : normalize(found.value);
  }

  /** Stages what a park records, once per wait step. */
  async stagePark(runSeq: number, stepTok: string, staged: Staged): Promise<Staged> {
    return this.stage(kvKeys.parkStage(this.subToken, runSeq, stepTok), staged);
  }

  private async stage(key: string, staged: Staged): Promise<Staged> {
    if (await this.store.kvCreate(key, staged)) return staged;
    const found = await this.store.kvGet<Staged | AgentdEvent[]>(key);
    return found === undefined ? staged : normalize(found.value);
  }
}

/** Stages written before actions existed hold the events alone. */
function normalize(value: Staged | AgentdEvent[]): Staged {
  return Array.isArray(value) ? { events: value, actions: [], at: 0 } : value;
}

/**
 * The attempt number of a delivery of message `seq` and its error history: attempts spent by
 * earlier messages of the run, plus this message's deliveries minus its skips; attempts that left
 * no error behind ended by lease expiry.
 */
export function attemptOf(
  seq: number,
  runSeq: number,
  deliveryCount: number,
  record: RunRecord,
  now: number,
): { attempt: number; errors: ErrorRecord[] } {
  const skips = (record.seq ?? runSeq) === seq ? record.skips : 0;
  const attempt = (record.base ?? 0) + Math.max(1, deliveryCount - skips);
  const byAttempt = new Map(record.errors.map((e) => [e.attempt, e]));
  const errors: ErrorRecord[] = [];
  for (let n = 1; n < attempt; n++) {
    errors.push(
      byAttempt.get(n) ?? { attempt: n, at: new Date(now).toISOString(), error: LEASE_EXPIRED },
    );
  }
  return { attempt, errors };
}

/** The record after one more delivery of message `seq` that was not an attempt. */
export function withSkip(record: RunRecord, seq: number, runSeq: number): RunRecord {
  const skips = (record.seq ?? runSeq) === seq ? record.skips : 0;
  return { ...record, seq, skips: skips + 1 };
}
