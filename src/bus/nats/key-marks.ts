// A governed route's key lock as seen from outside its holder (key-lock.ts): the cancel mark that a
// newer event writes (singleton 'replace', cancelOn), singleton 'skip''s decision for each message,
// whoever publishes or receives it first, and the question a running delivery asks. Every write
// is a compare-and-set.
import type { EventWaits } from './event-waits.js';
import type { KeyState } from './key-lock.js';
import { kvKeys } from './names.js';
import type { NatsStore } from './nats-store.js';

const CAS_TRIES = 8;

export class KeyMarksStore {
  constructor(
    private readonly store: NatsStore,
    /** The parked runs' waits (once connected). */
    private readonly waits: () => EventWaits | undefined,
  ) {}

  /**
   * Cancels the key's runs below `below`: the mark, a notice to the route's workers (a running
   * one stops at once), and a parked one's wait ended so that it comes back and ends.
   */
  async cancelOlder(
    subToken: string,
    keyTok: string,
    below: number,
    reason: string,
  ): Promise<void> {
    const { marked, parkedRun } = await this.markCancel(subToken, keyTok, below, reason);
    if (!marked) return;
    this.store.publishQuietly(
      this.store.names.cancelSubject(subToken),
      cancelNotice(keyTok, below, reason),
    );
    if (parkedRun !== undefined) await this.waits()?.endRun(subToken, parkedRun);
  }

  /**
   * Cancels the key's unfinished deliveries below `below` (each ends `cancelled` with `reason`
   * when it next holds or settles the key). `marked` is false when a mark at least as high was
   * there already; `parkedRun` names the run that holds the key parked on a wait, if the mark
   * covers it (its wait must end for it to come back and end).
   */
  private async markCancel(
    subToken: string,
    keyTok: string,
    below: number,
    reason: string,
  ): Promise<{ marked: boolean; parkedRun?: number }> {
    const key = kvKeys.keyLock(subToken, keyTok);
    for (let i = 0; i < CAS_TRIES; i++) {
      const entry = await this.store.kvGet<KeyState>(key);
      const state = entry?.value ?? { done: 0 };
      if ((state.cancel?.below ?? 0) >= below || below - 1 <= state.done) return { marked: false };
      const marked: KeyState = { ...state, cancel: { below, reason } };
      if ((await this.store.kvSwap(key, marked, entry?.revision ?? 0)) === 0) continue;
      const run = state.as ?? state.seq;
      return state.parked === true && run !== undefined && run < below
        ? { marked: true, parkedRun: run }
        : { marked: true };
    }
    throw new Error(`key lock ${key}: too many concurrent writes to mark a cancel`);
  }

  /**
   * Singleton 'skip': decides message `seq` of the key, once, in stream order — 'skip' when a
   * message decided to run earlier is unfinished (running, retrying, parked or queued), else
   * 'run'; 'decided' when it was decided before (by this call's caller or another process).
   * A message decided late (after a newer one) counts as skipped: of two events published at once
   * by different processes, the one decided first runs.
   */
  async decideSingleton(
    subToken: string,
    keyTok: string,
    seq: number,
  ): Promise<'run' | 'skip' | 'decided'> {
    const key = kvKeys.keyLock(subToken, keyTok);
    for (let i = 0; i < CAS_TRIES; i++) {
      const entry = await this.store.kvGet<KeyState>(key);
      const state = entry?.value ?? { done: 0 };
      if (seq <= (state.decided ?? 0) || seq <= state.done) return 'decided';
      const busy = (state.live ?? 0) > state.done;
      const decided: KeyState = { ...state, decided: seq, ...(busy ? {} : { live: seq }) };
      if ((await this.store.kvSwap(key, decided, entry?.revision ?? 0)) > 0)
        return busy ? 'skip' : 'run';
    }
    throw new Error(`key lock ${key}: too many concurrent writes to decide a singleton`);
  }

  /** Why the run `runSeq` of the key is cancelled, read fresh; undefined when it is not. */
  async cancelReason(
    subToken: string,
    keyTok: string,
    runSeq: number,
  ): Promise<string | undefined> {
    const entry = await this.store.kvGet<KeyState>(kvKeys.keyLock(subToken, keyTok));
    const cancel = entry?.value.cancel;
    return cancel !== undefined && runSeq < cancel.below ? cancel.reason : undefined;
  }
}

/** The core NATS notice of a cancel mark: `<key token> <below> <reason>`. */
function cancelNotice(keyTok: string, below: number, reason: string): string {
  return `${keyTok} ${below} ${reason}`;
}

export function parseCancelNotice(
  payload: string,
): { keyTok: string; below: number; reason: string } | undefined {
  const [keyTok, below] = payload.split(' ', 2);
  const at = Number(below);
  if (keyTok === undefined || below === undefined || !Number.isSafeInteger(at)) return undefined;
  return { keyTok, below: at, reason: payload.slice(keyTok.length + below.length + 2) };
}
