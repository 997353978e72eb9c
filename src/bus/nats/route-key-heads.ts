// Heads of route keys (a route's `key` expression, evaluated on each event): the stream is indexed
// by partition key, not by them, so a key's head is found by reading the route's messages in stream
// order. Reading starts at the consumer's acknowledged floor at the lowest: every message below it
// is finished, skipped, or parked on a wait with its key lock held (which the lock itself shows),
// so none of them can be a head. What was read is remembered as one window [lo, hi) of the stream,
// shared by every key, so each process reads each message of the window once however many keys ask.
import type { AgentdEvent } from '../../core/envelope.js';
import { isHeadCandidate, type KeyHeads } from './key-heads.js';
import type { Names } from './names.js';
import type { NatsStore, StoredMessage } from './nats-store.js';

export interface RouteKeyHeadsOptions {
  store: NatsStore;
  names: Names;
  subToken: string;
  types: readonly string[];
  matches: (type: string) => boolean;
  /** The route key's lock token of an event, undefined when it has no key. */
  keyTokenOf(event: AgentdEvent): string | undefined;
}

/** How long the acknowledged floor is taken as read: a stale one is lower, never wrong. */
const FLOOR_TTL_MS = 1_000;

export class RouteKeyHeads implements KeyHeads {
  /** Per key token, the sequences of its candidate messages in the window, ascending. */
  private readonly byKey = new Map<string, number[]>();
  /** Every candidate message in [lo, hi) is in byKey. */
  private lo = 0;
  private hi = 0;
  private floorRead: { at: number; floor: Promise<number> } | undefined;
  private lastFloor = 0;
  /** Reads extend the window one at a time, so no message is fetched twice. */
  private reading: Promise<unknown> = Promise.resolve();
  private readonly filter: string;

  constructor(private readonly options: RouteKeyHeadsOptions) {
    this.filter = options.names.filterSubject(options.types);
  }

  async headOf(keyTok: string, from: number, upTo: number): Promise<number> {
    const start = Math.max(from, await this.floor());
    if (start >= upTo) return upTo;
    const run = this.reading.then(() => this.readUntil(keyTok, start, upTo));
    this.reading = run.catch(() => undefined);
    await run;
    const head = this.firstOf(keyTok, start);
    return head !== undefined && head < upTo ? head : upTo;
  }

  /** Reads on to the end of the stream if need be: messages stored later are read later. */
  async newerThan(keyTok: string, seq: number): Promise<number> {
    const head = await this.headOf(keyTok, seq + 1, Number.POSITIVE_INFINITY);
    return Number.isFinite(head) ? head : 0;
  }

  /** From what was read only: a release's hint is worth no reads (0 lets the next one look). */
  async nextHeadAfter(keyTok: string, done: number): Promise<number> {
    const start = Math.max(done + 1, this.lastFloor);
    if (start < this.lo) return 0;
    return this.firstOf(keyTok, start) ?? 0;
  }

  /** Extends the window to cover [start, upTo), or until it holds a message of the key ≥ start. */
  private async readUntil(keyTok: string, start: number, upTo: number): Promise<void> {
    const floor = this.lastFloor;
    // A window ending below the floor is of no use: begin anew at the floor, so that every key
    // asking later (none asks below it) starts inside the window.
    if (this.hi < floor) this.reset(floor);
    else if (floor > this.lo) this.prune(floor);
    const known = this.firstOf(keyTok, start);
    if (known !== undefined) return;
    const { store, names } = this.options;
    while (this.hi < upTo) {
      const found = await store.nextMessage(names.stream, this.hi, this.filter);
      if (found === undefined) {
        // Below a stored message (a head lookup) the window is complete; open-ended, it ends at
        // the stream's end as it is now.
        if (Number.isFinite(upTo)) this.hi = upTo;
        return;
      }
      const tok = this.tokenOf(found);
      if (tok !== undefined) this.insert(tok, found.seq);
      this.hi = found.seq + 1;
      if (tok === keyTok && found.seq >= start) return;
    }
  }

  /** The consumer's acknowledged floor + 1: no head lies below it. Read at most once a second. */
  private floor(): Promise<number> {
    const now = Date.now();
    if (this.floorRead !== undefined && now - this.floorRead.at < FLOOR_TTL_MS)
      return this.floorRead.floor;
    const { store, names, subToken } = this.options;
    const floor = store.jsm.consumers.info(names.stream, subToken).then(
      (info) => {
        // Floors only rise; a lower answer (a consumer made again) is not trusted to be complete.
        this.lastFloor = Math.max(this.lastFloor, info.ack_floor.stream_seq + 1);
        return this.lastFloor;
      },
      (error: unknown) => {
        if (this.floorRead?.floor === floor) this.floorRead = undefined;
        throw error;
      },
    );
    this.floorRead = { at: now, floor };
    return floor;
  }

  private tokenOf(found: StoredMessage): string | undefined {
    const { names, subToken, matches } = this.options;
    if (!isHeadCandidate(found, names, subToken, matches)) return undefined;
    try {
      return this.options.keyTokenOf(
        JSON.parse(new TextDecoder().decode(found.data)) as AgentdEvent,
      );
    } catch {
      // Not an event (intake dead-letters it): it is nobody's head.
      return undefined;
    }
  }

  private firstOf(keyTok: string, start: number): number | undefined {
    const seqs = this.byKey.get(keyTok);
    if (seqs === undefined) return undefined;
    const at = lowerBound(seqs, start);
    return at < seqs.length ? seqs[at] : undefined;
  }

  private insert(keyTok: string, seq: number): void {
    const seqs = this.byKey.get(keyTok);
    if (seqs === undefined) return void this.byKey.set(keyTok, [seq]);
    // Reads go forward, so this is nearly always an append.
    if (seqs.length === 0 || seqs[seqs.length - 1]! < seq) seqs.push(seq);
    else {
      const at = lowerBound(seqs, seq);
      if (seqs[at] !== seq) seqs.splice(at, 0, seq);
    }
  }

  private reset(at: number): void {
    this.byKey.clear();
    this.lo = at;
    this.hi = at;
  }

  /** Forgets the messages below the floor: finished or not heads, they are asked for no more. */
  private prune(floor: number): void {
    this.lo = floor;
    for (const [keyTok, seqs] of this.byKey) {
      const keep = lowerBound(seqs, floor);
      if (keep === seqs.length) this.byKey.delete(keyTok);
      else if (keep > 0) seqs.splice(0, keep);
    }
  }
}

/** The index of the first element ≥ value in an ascending array (its length when none is). */
function lowerBound(values: readonly number[], value: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (values[mid]! < value) low = mid + 1;
    else high = mid;
  }
  return low;
}
