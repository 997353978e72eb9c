// A governed route's deliveries on NATS (singleton, cancelOn, debounce; governed-route.ts), with the
// SQLite bus's semantics (docs/governor.md), decided by the stream and the key lock (key-lock.ts):
//   - at intake, what publish-governance.ts decides first, in case its publisher died in between:
//     a newer event marks its key's older runs cancelled, and singleton 'skip' decides the message;
//   - when a message holds its key: a skip or cancel decided for it ends it without running (it
//     only passes through its key, in order); debounce supersedes it when a newer message of its
//     key is stored already (skipped, the burst's start carried in the lock), else defers it until
//     due — and looks again then;
//   - while it runs: the cancel notice (core NATS), extend and every settle see a cancel mark.
import type { Subscription as CoreSubscription } from '@nats-io/transport-node';
import type { AgentdEvent } from '../../core/envelope.js';
import { describeError } from '../../core/errors.js';
import type { CancelListener } from '../bus.js';
import { cancelAsked, type GovernedRoute } from './governed-route.js';
import type { KeyLocks } from './key-lock.js';
import { parseCancelNotice, type KeyMarksStore } from './key-marks.js';
import { ONLY_HEADER, type Names } from './names.js';
import type { Held } from './nats-delivery.js';
import type { NatsStore } from './nats-store.js';
import { singletonSkip } from './publish-governance.js';
import { EMPTY_RECORD, type RunEnding, type RunRecord, type RunRecords } from './run-records.js';

export interface GovernorHost {
  readonly store: NatsStore;
  readonly names: Names;
  readonly subToken: string;
  readonly name: string;
  readonly records: RunRecords;
  readonly locks: KeyLocks;
  readonly marks: KeyMarksStore;
  /** The messages this process holds (any state). */
  heldMessages(): Iterable<Held>;
  /** Ends a message that holds its key (or has none) without running it. */
  endUnrun(held: Held, ending: RunEnding, recorded: boolean, burst?: number): Promise<void>;
  reportError(error: unknown, context: Record<string, unknown>): void;
  /** The time debounce compares the stream's times with. */
  now(): number;
}

/** What a message that holds its key does now. */
export type HeadVerdict =
  | { kind: 'run' }
  | { kind: 'defer'; delayMs: number }
  | { kind: 'end'; ending: RunEnding; recorded: boolean; burst?: number };

const RUN: HeadVerdict = { kind: 'run' };

export class RouteGovernor {
  private readonly listeners = new Set<CancelListener>();
  private readonly notices: CoreSubscription | undefined;

  constructor(
    private readonly host: GovernorHost,
    readonly route: GovernedRoute,
  ) {
    this.notices = route.cancelling
      ? host.store.nc.subscribe(host.names.cancelSubject(host.subToken), {
          callback: (_err, msg) => this.noticed(msg.string()),
        })
      : undefined;
  }

  onCancel(listener: CancelListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A message received: what its publisher should have decided already is decided again. */
  async atIntake(held: Held): Promise<void> {
    const { keyTok } = held;
    if (keyTok === undefined || !isNew(held, true)) return;
    if (this.route.spec.singleton === 'skip') await this.decideSingleton(held, keyTok);
    const reason = this.route.cancelling ? cancelAsked(this.route, held.event) : undefined;
    if (reason !== undefined)
      await this.host.marks.cancelOlder(this.host.subToken, keyTok, held.msg.seq, reason);
  }

  /** Decides a message that now holds its key (or has none), before it is handed out. */
  async atHead(held: Held, record: RunRecord, attempt: number): Promise<HeadVerdict> {
    if (record.ended !== undefined) return { kind: 'end', ending: record.ended, recorded: true };
    const marks = held.keyTok === undefined ? {} : this.host.locks.marksOf(held.keyTok);
    if (marks.cancel !== undefined && held.runSeq < marks.cancel.below)
      return this.end(held, 'cancelled', marks.cancel.reason);
    if (
      this.route.spec.singleton === 'skip' &&
      held.keyTok !== undefined &&
      isNew(held, true) &&
      held.msg.seq !== marks.live &&
      // Undecided (its deciders failed): as the key's head it finds the key free, so it runs.
      (held.msg.seq <= (marks.decided ?? 0) || (await this.decideSingleton(held, held.keyTok)))
    )
      return { kind: 'end', ending: singletonSkip(this.route, held.event), recorded: false };
    const debounce = this.route.spec.debounce;
    // A run that started (an attempt spent, a resumed copy) keeps its run; a replay is never skipped.
    if (debounce === undefined || !isNew(held, true) || attempt !== 1) return RUN;
    const { storedAt, seq } = held.msg;
    const burst = marks.burst ?? storedAt;
    if (held.keyTok !== undefined) {
      const newer = await this.host.locks.newerThan(held.keyTok, seq);
      if (newer > 0) {
        const by = await this.eventIdAt(newer);
        return { ...this.end(held, 'skipped', `debounced: superseded by ${by}`), burst };
      }
    }
    const due = Math.min(storedAt + debounce.waitMs, burst + (debounce.maxWaitMs ?? Infinity));
    const wait = due - this.host.now();
    return wait > 2 ? { kind: 'defer', delayMs: wait } : RUN;
  }

  /** Why a running delivery must stop, if it must: told by a notice, or read off its key lock. */
  async cancelReason(held: Held): Promise<string | undefined> {
    if (!this.route.cancelling || held.keyTok === undefined) return undefined;
    return (
      held.cancelled ??
      (await this.host.marks.cancelReason(this.host.subToken, held.keyTok, held.runSeq))
    );
  }

  private ending(event: AgentdEvent, status: RunEnding['status'], reason: string): RunEnding {
    return { status, reason, eventId: event.id, at: new Date().toISOString() };
  }

  /** Singleton 'skip''s decision for the message, made once (key-marks.ts); true: skipped now. */
  private async decideSingleton(held: Held, keyTok: string): Promise<boolean> {
    const decision = await this.host.marks.decideSingleton(
      this.host.subToken,
      keyTok,
      held.msg.seq,
    );
    if (decision !== 'skip') return false;
    await this.host.records.save(held.runSeq, {
      ...EMPTY_RECORD,
      ended: singletonSkip(this.route, held.event),
    });
    return true;
  }

  close(): void {
    this.notices?.unsubscribe();
  }

  private end(
    held: Held,
    status: RunEnding['status'],
    reason: string,
  ): HeadVerdict & { kind: 'end' } {
    return { kind: 'end', ending: this.ending(held.event, status, reason), recorded: false };
  }

  /** A cancel mark was written: runs of the key here are told, ready ones end at once. */
  private noticed(payload: string): void {
    const notice = parseCancelNotice(payload);
    if (notice === undefined) return;
    for (const held of this.host.heldMessages()) {
      if (held.keyTok !== notice.keyTok || held.runSeq >= notice.below) continue;
      if (held.state === 'ready') {
        held.state = 'classifying';
        const ending = this.ending(held.event, 'cancelled', notice.reason);
        this.host.endUnrun(held, ending, false).catch((error: unknown) => {
          this.host.reportError(error, { what: 'cancelling', seq: held.msg.seq });
        });
      } else if (held.state === 'out' && held.cancelled === undefined) {
        held.cancelled = notice.reason;
        for (const listener of [...this.listeners]) this.tell(listener, held, notice.reason);
      }
    }
  }

  private tell(listener: CancelListener, held: Held, reason: string): void {
    try {
      listener(held.delivery?.deliveryId ?? `${held.runSeq}@${this.host.name}`, reason);
    } catch (error) {
      // A listener is the worker's; its failure must not stop the others from being told.
      process.emitWarning(
        `onCancel listener of ${this.host.name} failed for delivery ${held.runSeq}: ${describeError(error)}`,
      );
    }
  }

  /** The id of the event stored at `seq`, for a superseded delivery's reason. */
  private async eventIdAt(seq: number): Promise<string> {
    const found = await this.host.store.nextMessage(this.host.names.stream, seq, undefined);
    try {
      return (JSON.parse(new TextDecoder().decode(found?.data)) as AgentdEvent).id;
    } catch {
      return `the message at ${seq}`;
    }
  }
}

/**
 * A message delivered for the first time that is neither a parked run's resumed copy nor a
 * replayed dead letter (`Agentd-Only`): only such a message may be skipped or cancel others.
 * `redelivered` allows later deliveries of it (debounce looks again after a defer).
 */
function isNew(held: Held, redelivered = false): boolean {
  if (held.resumes !== undefined || held.msg.header(ONLY_HEADER) !== undefined) return false;
  return redelivered || held.msg.deliveryCount === 1;
}
