// Durable waits on NATS (ctx.waitForEvent). A parked run is a KV entry `wait.<route>.<run>.<step>`
// in the state bucket (its message is acked, its key lock kept `parked`); every NatsBus mirrors the
// entries, indexed by type. A wait is resolved by whoever sees a match first — the publish that
// stored it, or a scan of the stream that any process repeats every few seconds, which also covers
// a match this process's mirror had not heard of yet — or by its deadline, swept by any process.
//
// Resolving, each step safe to repeat: (1) compare-and-set the entry's outcome, which picks the one
// outcome; (2) memoize it as the step (create: first writer wins); (3) publish the run's resumed
// copy, deduplicated by id; (4) delete the entry. An entry resolved but not deleted for a while
// (its resolver died) is taken up again from step 2 by any process.
import type { KvWatchEntry } from '@nats-io/kv';
import type { AgentdEvent } from '../../core/envelope.js';
import { eventMatches } from '../../core/outbox-api.js';
import type { WaitOutcome } from '../bus.js';
import type { Versioned } from './kv-bucket.js';
import { watchKeys, type KeyWatch } from './kv-watch.js';
import { keyToken, kvKeys, ONLY_HEADER, RESUMES_HEADER, stepToken } from './names.js';
import type { NatsStore } from './nats-store.js';
import { StepMemo } from './step-memo.js';

export interface WaitEntry {
  subscription: string;
  subToken: string;
  /** The run's first message: its deliveries, records and key lock go by this sequence. */
  runSeq: number;
  step: string;
  type: string;
  match?: Record<string, unknown>;
  deadline?: number;
  /** The run's event, published again as its resumed copy. */
  event: AgentdEvent;
  /** Matching events are looked for from this stream sequence on (after the parked message). */
  from: number;
  /** When the attempt that parked began: events stored before it do not count. */
  since: number;
  outcome?: WaitOutcome;
  resolvedAt?: number;
}

const SWEEP_MS = 1_000;
/** How often each process scans the stream for a match of each wait. */
const RESCAN_MS = 5_000;
/** A resolution whose entry is still there after this long lost its resolver: finish it. */
const STALE_MS = 10_000;
/** Server and worker clocks differ: an event stored up to this much before the attempt counts. */
const CLOCK_SLACK_MS = 1_000;

export class EventWaits {
  private readonly entries = new Map<string, Versioned<WaitEntry>>();
  private readonly byType = new Map<string, Set<string>>();
  /** How far this process scanned the stream for each wait, and when. */
  private readonly scanned = new Map<string, { at: number; next: number }>();
  private watch: KeyWatch | undefined;
  private readonly sweeper: NodeJS.Timeout;
  private sweeping = false;
  private closed = false;

  private constructor(
    private readonly store: NatsStore,
    private readonly reportError: (error: unknown, context: Record<string, unknown>) => void,
  ) {
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  static async open(
    store: NatsStore,
    reportError: (error: unknown, context: Record<string, unknown>) => void,
  ): Promise<EventWaits> {
    const waits = new EventWaits(store, reportError);
    try {
      waits.watch = await watchKeys(store, store.names.bucket, store.kv, kvKeys.waits, (entry) =>
        waits.apply(entry),
      );
    } catch (error) {
      clearInterval(waits.sweeper);
      throw error;
    }
    return waits;
  }

  /** True while some run (known here) waits for events of this type. */
  waitsFor(type: string): boolean {
    return this.byType.has(type);
  }

  /** Parked runs per route, for backlogs. */
  countBySubscription(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const { value } of this.entries.values())
      counts.set(value.subscription, (counts.get(value.subscription) ?? 0) + 1);
    return counts;
  }

  /** Records a parked run's wait (once per step), then looks for a match stored meanwhile. */
  async add(entry: WaitEntry): Promise<void> {
    const key = kvKeys.wait(entry.subToken, entry.runSeq, stepToken(entry.step));
    const revision = await this.store.state.create(key, entry);
    const current =
      revision > 0 ? { value: entry, revision } : await this.store.state.get<WaitEntry>(key);
    if (current === undefined) return;
    this.remember(key, current);
    if (current.value.outcome === undefined) await this.scan(key, current);
  }

  /** Events just stored: resumes the waits known here that they match. */
  async published(events: readonly AgentdEvent[]): Promise<void> {
    if (this.byType.size === 0) return;
    for (const event of events) {
      for (const key of [...(this.byType.get(event.type) ?? [])]) {
        const found = this.entries.get(key);
        if (found === undefined || found.value.outcome !== undefined) continue;
        if (eventMatches(event, found.value.match)) await this.resolve(key, found, { event });
      }
    }
  }

  /**
   * A parked run was cancelled (singleton 'replace', cancelOn: its key lock's cancel mark covers
   * it): its waits end now, so that its resumed copy comes, finds the mark and ends the run
   * cancelled without running it. A wait this process has not heard of yet ends as it would have.
   */
  async endRun(subToken: string, runSeq: number): Promise<void> {
    for (const [key, found] of [...this.entries]) {
      const wait = found.value;
      if (wait.subToken !== subToken || wait.runSeq !== runSeq || wait.outcome !== undefined)
        continue;
      await this.resolve(key, found, { timedOut: true, at: new Date().toISOString() });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.sweeper);
    await this.watch?.stop();
  }

  private async resolve(
    key: string,
    found: Versioned<WaitEntry>,
    outcome: WaitOutcome,
  ): Promise<void> {
    const claimed: WaitEntry = { ...found.value, outcome, resolvedAt: Date.now() };
    const revision = await this.store.state.swap(key, claimed, found.revision);
    if (revision === 0) {
      // Resolved (or removed) elsewhere meanwhile: take the fresh entry.
      const fresh = await this.store.state.get<WaitEntry>(key);
      if (fresh === undefined) this.forget(key);
      else this.remember(key, fresh);
      return;
    }
    const current = { value: claimed, revision };
    this.remember(key, current);
    await this.resume(key, current);
  }

  /** Memoizes the outcome, publishes the run's resumed copy, then drops the entry. */
  private async resume(key: string, found: Versioned<WaitEntry>): Promise<void> {
    const wait = found.value;
    await new StepMemo(this.store, wait.subToken, wait.event).save(wait.step, wait.outcome);
    const { names } = this.store;
    await this.store.publisher.publish(
      names.eventSubject(wait.event, keyToken(wait.event.partitionkey)),
      JSON.stringify(wait.event),
      `resume-${wait.subToken}-${wait.runSeq}-${stepToken(wait.step)}`,
      { [ONLY_HEADER]: wait.subToken, [RESUMES_HEADER]: String(wait.runSeq) },
    );
    if (await this.store.state.deleteAt(key, found.revision)) this.forget(key);
  }

  /** Looks through the stream for the first event after the park that the wait matches. */
  private async scan(key: string, found: Versioned<WaitEntry>): Promise<void> {
    const wait = found.value;
    const subject = `${this.store.names.stream}.ev.*.${wait.type}`;
    let at = Math.max(wait.from, this.scanned.get(key)?.next ?? 0);
    for (;;) {
      const message = await this.store.nextMessage(this.store.names.stream, at, subject);
      if (message === undefined) break;
      at = message.seq + 1;
      // Resumed copies and replays are not new events.
      if (message.header(RESUMES_HEADER) !== undefined || message.header(ONLY_HEADER) !== undefined)
        continue;
      if (message.storedAt < wait.since - CLOCK_SLACK_MS) continue;
      const event = JSON.parse(new TextDecoder().decode(message.data)) as AgentdEvent;
      if (!eventMatches(event, wait.match)) continue;
      this.scanned.set(key, { at: Date.now(), next: at });
      return this.resolve(key, found, { event });
    }
    this.scanned.set(key, { at: Date.now(), next: at });
  }

  private async sweep(): Promise<void> {
    if (this.sweeping || this.closed || !this.store.connected) return;
    this.sweeping = true;
    try {
      const now = Date.now();
      for (const [key, found] of [...this.entries]) {
        if (this.closed) return;
        try {
          await this.sweepOne(key, found, now);
        } catch (error) {
          this.reportError(error, { what: 'event wait', key });
        }
      }
    } finally {
      this.sweeping = false;
    }
  }

  private async sweepOne(key: string, found: Versioned<WaitEntry>, now: number): Promise<void> {
    const wait = found.value;
    if (wait.outcome !== undefined) {
      if (now - (wait.resolvedAt ?? 0) >= STALE_MS) await this.resume(key, found);
      return;
    }
    if (wait.deadline !== undefined && wait.deadline <= now)
      return this.resolve(key, found, { timedOut: true, at: new Date(now).toISOString() });
    const scanned = this.scanned.get(key);
    if (scanned === undefined || now - scanned.at >= RESCAN_MS) await this.scan(key, found);
  }

  private apply(entry: KvWatchEntry): void {
    if (entry.operation !== 'PUT') return this.forget(entry.key);
    try {
      this.remember(entry.key, { value: entry.json<WaitEntry>(), revision: entry.revision });
    } catch (error) {
      this.reportError(error, { what: 'event wait entry', key: entry.key });
    }
  }

  private remember(key: string, found: Versioned<WaitEntry>): void {
    const known = this.entries.get(key);
    if (known !== undefined && known.revision >= found.revision) return;
    this.entries.set(key, found);
    const keys = this.byType.get(found.value.type) ?? new Set<string>();
    keys.add(key);
    this.byType.set(found.value.type, keys);
  }

  private forget(key: string): void {
    const known = this.entries.get(key);
    this.entries.delete(key);
    this.scanned.delete(key);
    if (known === undefined) return;
    const keys = this.byType.get(known.value.type);
    keys?.delete(key);
    if (keys?.size === 0) this.byType.delete(known.value.type);
  }
}
