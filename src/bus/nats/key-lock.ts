// Per-key order across workers on many machines: a lock per (subscription, key) in the state bucket,
// taken and released with compare-and-set, plus the stream itself as the key's queue (key-heads.ts:
// the key is the event's partitionkey, or the route's key expression evaluated on it).
//
// Invariant: the lock entry of a key holds `done`, the stream sequence of the key's last finished
// delivery, and while one runs, `seq`/`dc` naming the running head and its delivery count. Only the
// head — the first message of the key after `done` that this subscription receives — may take the
// lock, and heads finish in stream order, so every delivery at or below `done` is finished.
//
// A run parked by ctx.waitForEvent keeps the lock (`parked`) with its message acked; it resumes in a
// copy published at the end of the stream (header Agentd-Resumes: <run's seq>). Only that copy may
// take a parked lock, it holds it `as` the run's seq, and finishing it sets `done` to that seq —
// so the key's messages between the run and its copy come next, in order. Copies are never heads.
//
// Governed routes (route-governor.ts) keep marks in the entry, carried by every write until they no
// longer apply: `cancel` (singleton 'replace', cancelOn: the key's deliveries below `below` end
// cancelled), `burst` (debounce: when the key's current burst began), and `live`/`decided`
// (singleton 'skip': which message of the key may run, as decided in stream order).
import type { KeyHeads } from './key-heads.js';
import { kvKeys } from './names.js';
import type { NatsStore } from './nats-store.js';

export interface KeyState {
  done: number;
  seq?: number;
  dc?: number;
  /** The run `seq` continues (a resumed copy): `done` becomes this when it finishes. */
  as?: number;
  /** The holder is parked on a wait: only its resumed copy may take the key. */
  parked?: true;
  /** Set by a release: the key's first message after `done` for this route, as it was then. */
  next?: number;
  /** Every unfinished delivery of the key below `below` ends cancelled, with `reason`. */
  cancel?: { below: number; reason: string };
  /** Debounce: when the key's current burst began (ms since the epoch, the stream's time). */
  burst?: number;
  /**
   * Singleton 'skip': every message of the key up to `decided` was decided in stream order, and
   * `live` is the last one decided to run; the others were skipped. The key is busy while
   * `live > done`, so at most one message of the key is ever live and unfinished.
   */
  live?: number;
  decided?: number;
}

/** What a governed route reads off the entry once its delivery holds the key. */
type KeyMarks = Pick<KeyState, 'cancel' | 'burst' | 'live' | 'decided'>;

/** The marks a write keeps: a cancel mark until every delivery below it is done. */
function carriedMarks(state: KeyState, done: number): KeyMarks {
  const marks: KeyMarks = {};
  if (state.cancel !== undefined && state.cancel.below - 1 > done) marks.cancel = state.cancel;
  if (state.burst !== undefined) marks.burst = state.burst;
  if (state.live !== undefined) marks.live = state.live;
  if (state.decided !== undefined) marks.decided = state.decided;
  return marks;
}

/** The marks after a run of the key ended (not superseded): the debounce burst ends with it. */
function burstEnded(marks: KeyMarks): KeyMarks {
  const kept = { ...marks };
  delete kept.burst;
  return kept;
}

/** run: this delivery holds its key now. wait: an older one of the key is unfinished. finished:
 * already done (a redelivery after the ack was lost). stale: a newer delivery of it holds the key. */
export type KeyVerdict = 'run' | 'wait' | 'finished' | 'stale';

const CAS_TRIES = 8;

interface Known {
  state: KeyState;
  revision: number;
}

export class KeyLocks {
  constructor(
    private readonly store: NatsStore,
    private readonly subToken: string,
    /** Finds a key's head: by its subject (partition keys) or by reading (route keys). */
    private readonly heads: KeyHeads,
    /** The first stream sequence this subscription's consumer delivers. */
    private readonly startSeq: number,
  ) {}

  /**
   * The lock entries this process wrote last, per key token: a worker that just finished a key's
   * head, or holds it, skips one read. Only a guess — every write is still a compare-and-set.
   */
  private readonly known = new Map<string, Known>();

  /**
   * Decides whether delivery `seq` (delivered `dc` times) of key `keyTok` may run now; `resumes`
   * names the run a resumed copy continues.
   */
  async acquire(
    seq: number,
    keyTok: string,
    dc: number,
    options: { resumes?: number | undefined; recheck?: boolean } = {},
  ): Promise<KeyVerdict> {
    const { resumes } = options;
    if (resumes !== undefined) return this.acquireResumed(seq, keyTok, dc, resumes);
    const key = kvKeys.keyLock(this.subToken, keyTok);
    for (let i = 0; i < CAS_TRIES; i++) {
      // A free key as this process left it may be taken without reading it again first.
      const guess = i === 0 ? this.known.get(keyTok) : undefined;
      const entry = guess?.state.seq === undefined ? guess : undefined;
      const read = entry ?? (await this.read(key));
      const state = read?.state ?? { done: 0 };
      const revision = read?.revision ?? 0;
      if (seq <= state.done && entry !== undefined) continue;
      if (seq <= state.done) return 'finished';
      if (state.seq !== undefined) {
        if (state.seq !== seq) return 'wait';
        // A redelivery of the running head: its old holder's lease is gone. Fencing by delivery
        // count keeps a late copy of an older delivery from taking the key back.
        if (dc <= (state.dc ?? 0)) return 'stale';
      } else if (state.next !== undefined && state.next <= seq && options.recheck !== true) {
        // The release looked the head up already. (A recheck looks again: the message it named
        // may have left the stream by age.)
        if (state.next < seq && entry !== undefined) continue;
        if (state.next < seq) return 'wait';
      } else {
        const head = await this.heads.headOf(keyTok, Math.max(state.done + 1, this.startSeq), seq);
        // Parking on a guess could wait for a wake-up that came already: read the lock first.
        if (head < seq && entry !== undefined) continue;
        if (head < seq) return 'wait';
      }
      const taken: KeyState = { done: state.done, seq, dc, ...carriedMarks(state, state.done) };
      const now = await this.store.kvSwap(key, taken, revision);
      if (now > 0) {
        this.known.set(keyTok, { state: taken, revision: now });
        return 'run';
      }
      this.known.delete(keyTok);
    }
    return 'wait';
  }

  /** The marks of a key this process holds, as it wrote them when it took the key. */
  marksOf(keyTok: string): KeyMarks {
    const state = this.known.get(keyTok)?.state;
    return state === undefined ? {} : carriedMarks(state, state.done);
  }

  /**
   * Marks the head finished (acked, skipped or dead), freeing the key for its next delivery, and
   * notes the key's next head in the entry so that it takes the key without a lookup. Returns the
   * entry's new revision (0 when this delivery no longer holds the key: a newer delivery took it
   * over) and the next head to wake (0: none yet, or the entry carries marks, which a wake-up's
   * blind takeover would drop: the next head then reads the entry). `burst` (debounce) is kept
   * for the next head when this one was superseded; any other finish ends the burst.
   */
  async release(
    seq: number,
    keyTok: string,
    dc: number,
    burst?: number,
  ): Promise<{ revision: number; next: number }> {
    const key = kvKeys.keyLock(this.subToken, keyTok);
    let next: { done: number; head: number } | undefined;
    for (let i = 0; i < CAS_TRIES; i++) {
      const guess = i === 0 ? this.known.get(keyTok) : undefined;
      const entry = guess ?? (await this.read(key));
      if (entry === undefined) return { revision: 0, next: 0 };
      const { state } = entry;
      if (state.seq !== seq || state.dc !== dc) {
        if (guess === undefined) return { revision: 0, next: 0 };
        continue;
      }
      const done = Math.max(state.done, state.as ?? seq);
      if (next?.done !== done) next = { done, head: await this.nextHead(keyTok, done) };
      const marks: KeyMarks = {
        ...burstEnded(carriedMarks(state, done)),
        ...(burst === undefined ? {} : { burst }),
      };
      const finished: KeyState = { done, ...(next.head > 0 ? { next: next.head } : {}), ...marks };
      const now = await this.store.kvSwap(key, finished, entry.revision);
      if (now > 0) {
        this.known.set(keyTok, { state: finished, revision: now });
        return { revision: now, next: Object.keys(marks).length > 0 ? 0 : next.head };
      }
      this.known.delete(keyTok);
    }
    return { revision: 0, next: 0 };
  }

  /**
   * Finishes `seq` and gives its key to `nextSeq` in one compare-and-set — for a caller that knows
   * `nextSeq` is the key's next head. Returns the new revision; 0 when the entry had moved on (the
   * caller then releases the long way).
   */
  async handOff(
    seq: number,
    keyTok: string,
    dc: number,
    nextSeq: number,
    nextDc: number,
  ): Promise<number> {
    const key = kvKeys.keyLock(this.subToken, keyTok);
    const known = this.known.get(keyTok);
    const entry = known?.state.seq === seq && known.state.dc === dc ? known : await this.read(key);
    const state = entry?.state;
    if (entry === undefined || state?.seq !== seq || state.dc !== dc || state.as !== undefined)
      return 0;
    const done = Math.max(state.done, seq);
    // A finish by handoff is a run's end: the burst (if any) ends, the other marks carry on.
    const taken: KeyState = {
      done,
      seq: nextSeq,
      dc: nextDc,
      ...burstEnded(carriedMarks(state, done)),
    };
    const now = await this.store.kvSwap(key, taken, entry.revision);
    if (now > 0) this.known.set(keyTok, { state: taken, revision: now });
    else this.known.delete(keyTok);
    return now;
  }

  /**
   * Marks the holder parked on a wait (its message is acked next): the key stays held, and only
   * the run's resumed copy may take it. The new revision, or 0 when it no longer holds the key.
   */
  async park(seq: number, keyTok: string, dc: number): Promise<number> {
    const key = kvKeys.keyLock(this.subToken, keyTok);
    for (let i = 0; i < CAS_TRIES; i++) {
      const entry = await this.read(key);
      if (entry === undefined || entry.state.seq !== seq || entry.state.dc !== dc) return 0;
      const parked: KeyState = { ...entry.state, parked: true };
      const now = await this.store.kvSwap(key, parked, entry.revision);
      if (now > 0) {
        this.known.set(keyTok, { state: parked, revision: now });
        return now;
      }
    }
    return 0;
  }

  /** Debounce: the key's first message for this route after `seq` stored by now, or 0. */
  async newerThan(keyTok: string, seq: number): Promise<number> {
    return this.heads.newerThan(keyTok, seq);
  }

  /** The key's next head after a release of `done`: its first message for this route, or 0. */
  async nextHead(keyTok: string, done: number): Promise<number> {
    return this.heads.nextHeadAfter(keyTok, Math.max(done, this.startSeq - 1));
  }

  /**
   * Takes the key for the head a release named, in one compare-and-set against the revision that
   * release wrote: if the entry has not moved since, `seq` is the head it was computed to be.
   */
  async handOver(
    seq: number,
    keyTok: string,
    dc: number,
    done: number,
    revision: number,
  ): Promise<boolean> {
    const taken: KeyState = { done, seq, dc };
    const now = await this.store.kvSwap(kvKeys.keyLock(this.subToken, keyTok), taken, revision);
    if (now === 0) return false;
    this.known.set(keyTok, { state: taken, revision: now });
    return true;
  }

  /** A resumed copy takes its parked run's key, or is a leftover of a run that finished. */
  private async acquireResumed(
    seq: number,
    keyTok: string,
    dc: number,
    runSeq: number,
  ): Promise<KeyVerdict> {
    const key = kvKeys.keyLock(this.subToken, keyTok);
    for (let i = 0; i < CAS_TRIES; i++) {
      const read = await this.read(key);
      const state = read?.state ?? { done: 0 };
      if (state.seq === seq) {
        if (dc <= (state.dc ?? 0)) return 'stale';
      } else if (state.seq === runSeq || state.as === runSeq) {
        // The run holds the key (its first message or an earlier copy): running, unless parked.
        if (state.parked !== true) return 'wait';
      } else if (runSeq <= state.done) {
        return 'finished';
      } else if (state.seq !== undefined) {
        return 'wait';
      }
      const taken: KeyState = {
        done: state.done,
        seq,
        dc,
        as: runSeq,
        ...carriedMarks(state, state.done),
      };
      const now = await this.store.kvSwap(key, taken, read?.revision ?? 0);
      if (now > 0) {
        this.known.set(keyTok, { state: taken, revision: now });
        return 'run';
      }
    }
    return 'wait';
  }

  private async read(key: string): Promise<Known | undefined> {
    const entry = await this.store.kvGet<KeyState>(key);
    return entry === undefined ? undefined : { state: entry.value, revision: entry.revision };
  }
}
