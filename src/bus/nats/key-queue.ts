// The keyed messages one subscription holds in this process, per key in stream order: only the
// lowest of a key asks the key lock (key-lock.ts), a release's wake-up hands the key straight to the
// head it names, and a key that heard nothing for a while asks again. Resumed copies of parked runs
// are kept apart: they take their run's key and never queue behind the messages that wait for it.
import type { Held } from './nats-delivery.js';
import type { KeyLocks } from './key-lock.js';

export interface KeyQueueHost {
  readonly locks: KeyLocks;
  isClosed(): boolean;
  /** The message holds its key now: work out its attempt and make it ready. */
  prepare(held: Held): Promise<void>;
  /** Drops a message from the subscription's books (and so from this queue). */
  forget(held: Held): void;
  /** True when every consumer delivery strictly between these two came to this process. */
  receivedBetween(a: number, b: number): boolean;
  reportError(error: unknown, seq: number): void;
}

/** How long a parked delivery waits for a wake-up before it looks at its key again itself. */
export const RECHECK_MS = 2_000;

export class KeyQueue {
  private readonly byKey = new Map<string, Held[]>();
  private readonly copies = new Set<Held>();

  constructor(private readonly host: KeyQueueHost) {}

  /** Queues a keyed message behind the ones of its key held here; the lowest asks the lock. */
  async admit(held: Held): Promise<void> {
    const keyTok = held.keyTok!;
    if (held.resumes !== undefined) {
      this.copies.add(held);
      return this.tryHead(held);
    }
    // A redelivery replaces a copy of the same message this process still holds: NATS only
    // redelivers once the old copy's lease is gone (a run still holding it can no longer settle).
    for (const old of (this.byKey.get(keyTok) ?? []).filter(
      (h) => h.msg.seq === held.msg.seq && h !== held,
    ))
      this.host.forget(old);
    const line = this.byKey.get(keyTok) ?? [];
    line.push(held);
    line.sort((a, b) => a.msg.seq - b.msg.seq);
    this.byKey.set(keyTok, line);
    if (line[0] !== held) {
      held.state = 'parked';
      return;
    }
    await this.tryHead(held);
  }

  /** Called as a message leaves the subscription's books: the next of its key may try. */
  remove(held: Held): void {
    if (this.copies.delete(held) || held.keyTok === undefined) return;
    const line = this.byKey.get(held.keyTok);
    if (line === undefined) return;
    const index = line.indexOf(held);
    if (index >= 0) line.splice(index, 1);
    if (line.length === 0) this.byKey.delete(held.keyTok);
    else if (index === 0 && held.released !== true) this.lookAgain(held.keyTok);
  }

  /**
   * Finishing `done`, the head of its key: when the key's next message is parked here and every
   * delivery between the two came here too, that message is the key's next head — it takes the key
   * in the same compare-and-set that frees it, with no lookup and no wake-up. False otherwise (the
   * caller releases the long way).
   */
  async handOff(done: Held): Promise<boolean> {
    const keyTok = done.keyTok;
    if (keyTok === undefined || done.resumes !== undefined || done.msg.deliveryCount !== 1)
      return false;
    const line = this.byKey.get(keyTok);
    const next = line?.[1];
    if (
      line?.[0] !== done ||
      next === undefined ||
      next.state !== 'parked' ||
      next.msg.deliveryCount !== 1 ||
      next.msg.dseq <= done.msg.dseq ||
      !this.host.receivedBetween(done.msg.dseq, next.msg.dseq)
    )
      return false;
    next.state = 'classifying';
    next.checkedAt = Date.now();
    const revision = await this.host.locks.handOff(done.msg.seq, keyTok, 1, next.msg.seq, 1);
    if (revision === 0) {
      if (next.state === 'classifying') next.state = 'parked';
      return false;
    }
    done.released = true;
    if (next.state === 'classifying')
      this.host.prepare(next).catch((error: unknown) => this.failed(next, error));
    return true;
  }

  /** A release elsewhere: `<key> <done> <revision> <next head>`. */
  woken(payload: string): void {
    const [keyTok, done, revision, next] = payload.split(' ');
    if (keyTok === undefined) return;
    const first = this.byKey.get(keyTok)?.[0];
    if (next === undefined || next === '0') return this.lookAgain(keyTok);
    if (first === undefined || first.state !== 'parked' || String(first.msg.seq) !== next) return;
    first.state = 'classifying';
    first.checkedAt = Date.now();
    const { deliveryCount } = first.msg;
    this.host.locks
      .handOver(first.msg.seq, keyTok, deliveryCount, Number(done), Number(revision))
      .then(async (taken) => {
        if (first.state !== 'classifying') return;
        if (taken) return this.host.prepare(first);
        // The entry moved on since (e.g. a takeover): ask the lock the long way.
        first.state = 'parked';
        this.lookAgain(keyTok);
      })
      .catch((error: unknown) => this.failed(first, error));
  }

  /** A wake-up can be lost (a reconnect, a worker that died mid-release): stale heads ask again. */
  recheck(now: number): void {
    for (const [keyTok, line] of this.byKey) {
      const first = line[0];
      if (first?.state === 'parked' && now - (first.checkedAt ?? 0) >= RECHECK_MS)
        this.lookAgain(keyTok);
    }
    for (const copy of this.copies)
      if (copy.state === 'parked' && now - (copy.checkedAt ?? 0) >= RECHECK_MS)
        this.tryHead(copy).catch((error: unknown) => this.failed(copy, error));
  }

  /** Asks the key lock whether this message (lowest of its key here, or a copy) may run now. */
  private async tryHead(held: Held): Promise<void> {
    const recheck = held.checkedAt !== undefined;
    held.state = 'classifying';
    held.checkedAt = Date.now();
    const verdict = await this.host.locks.acquire(
      held.msg.seq,
      held.keyTok!,
      held.msg.deliveryCount,
      {
        resumes: held.resumes,
        recheck,
      },
    );
    if (held.state !== 'classifying') return;
    switch (verdict) {
      case 'run':
        return this.host.prepare(held);
      case 'wait':
        held.state = 'parked';
        return;
      case 'finished':
        held.msg.ack();
        return this.host.forget(held);
      case 'stale':
        return this.host.forget(held);
    }
  }

  /** The key may have moved on: its lowest parked message here asks the lock again. */
  private lookAgain(keyTok: string): void {
    if (this.host.isClosed()) return;
    const first = this.byKey.get(keyTok)?.[0];
    if (first === undefined || first.state !== 'parked') return;
    this.tryHead(first).catch((error: unknown) => this.failed(first, error));
  }

  private failed(held: Held, error: unknown): void {
    if (held.state === 'classifying') held.state = 'parked';
    this.host.reportError(error, held.msg.seq);
  }
}
