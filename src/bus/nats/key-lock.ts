// Per-key order across workers on many machines: a lock per (subscription, partition key) in the
// state bucket, taken and released with compare-and-set, plus the stream itself as the key's queue.
//
// Invariant: the lock entry of a key holds `done`, the stream sequence of the key's last finished
// delivery, and while one runs, `seq`/`dc` naming the running head and its delivery count. Only the
// head — the first message of the key after `done` that this subscription receives — may take the
// lock, and heads finish in stream order, so every delivery at or below `done` is finished.
import { kvKeys, ONLY_HEADER, typeOfSubject, type Names } from './names.js';
import type { NatsStore } from './nats-store.js';

interface KeyState {
  done: number;
  seq?: number;
  dc?: number;
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
    private readonly names: Names,
    private readonly subToken: string,
    private readonly types: readonly string[],
    private readonly matches: (type: string) => boolean,
    /** The first stream sequence this subscription's consumer delivers. */
    private readonly startSeq: number,
  ) {}

  /**
   * The lock entries this process wrote last, per key token: a worker that just finished a key's
   * head, or holds it, skips one read. Only a guess — every write is still a compare-and-set.
   */
  private readonly known = new Map<string, Known>();

  /** Decides whether delivery `seq` (delivered `dc` times) of key `keyTok` may run now. */
  async acquire(seq: number, keyTok: string, dc: number): Promise<KeyVerdict> {
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
      } else {
        const head = await this.headOf(keyTok, Math.max(state.done + 1, this.startSeq), seq);
        // Parking on a guess could wait for a wake-up that came already: read the lock first.
        if (head < seq && entry !== undefined) continue;
        if (head < seq) return 'wait';
      }
      const taken: KeyState = { done: state.done, seq, dc };
      const now = await this.store.kvSwap(key, taken, revision);
      if (now > 0) {
        this.known.set(keyTok, { state: taken, revision: now });
        return 'run';
      }
      this.known.delete(keyTok);
    }
    return 'wait';
  }

  /**
   * Marks the head finished (acked, skipped or dead), freeing the key for its next delivery.
   * Returns the lock entry's new revision; 0 when this delivery no longer holds the key (a newer
   * delivery took it over).
   */
  async release(seq: number, keyTok: string, dc: number): Promise<number> {
    const key = kvKeys.keyLock(this.subToken, keyTok);
    for (let i = 0; i < CAS_TRIES; i++) {
      const guess = i === 0 ? this.known.get(keyTok) : undefined;
      const entry = guess ?? (await this.read(key));
      if (entry === undefined) return 0;
      const { state } = entry;
      if (state.seq !== seq || state.dc !== dc) {
        if (guess === undefined) return 0;
        continue;
      }
      const finished: KeyState = { done: seq };
      const now = await this.store.kvSwap(key, finished, entry.revision);
      if (now > 0) {
        this.known.set(keyTok, { state: finished, revision: now });
        return now;
      }
      this.known.delete(keyTok);
    }
    return 0;
  }

  /** The key's next head after a release of `done`: its first message for this route, or 0. */
  async nextHead(keyTok: string, done: number): Promise<number> {
    const head = await this.headOf(
      keyTok,
      Math.max(done + 1, this.startSeq),
      Number.MAX_SAFE_INTEGER,
    );
    return head === Number.MAX_SAFE_INTEGER ? 0 : head;
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

  private async read(key: string): Promise<Known | undefined> {
    const entry = await this.store.kvGet<KeyState>(key);
    return entry === undefined ? undefined : { state: entry.value, revision: entry.revision };
  }

  /** The first message of the key at or after `from` that this subscription receives (≤ upTo). */
  private async headOf(keyTok: string, from: number, upTo: number): Promise<number> {
    let head = upTo;
    for (const subject of this.names.keySubjects(keyTok, this.types)) {
      let at = from;
      while (at < head) {
        const found = await this.store.nextMessage(this.names.stream, at, subject);
        if (found === undefined || found.seq >= head) break;
        const only = found.header(ONLY_HEADER);
        const type = typeOfSubject(this.names.stream, found.subject);
        if (this.matches(type) && (only === undefined || only === this.subToken)) {
          head = found.seq;
          break;
        }
        at = found.seq + 1;
      }
    }
    return head;
  }
}
