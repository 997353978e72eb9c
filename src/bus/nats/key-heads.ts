// Finding a key's head for the key lock (key-lock.ts): the first message of the key, at or after a
// sequence, that the subscription receives. Partition keys are in the subject, so JetStream finds
// it directly (SubjectHeads); route keys are not (route-key-heads.ts reads the route's messages).
import { ONLY_HEADER, RESUMES_HEADER, typeOfSubject, type Names } from './names.js';
import type { NatsStore, StoredMessage } from './nats-store.js';

export interface KeyHeads {
  /** The first message of the key in [from, upTo) that the subscription receives; else upTo. */
  headOf(keyTok: string, from: number, upTo: number): Promise<number>;
  /** For a release's hint: the key's first message after `done`, or 0 when none is known. */
  nextHeadAfter(keyTok: string, done: number): Promise<number>;
  /** Debounce: the key's first message after `seq` stored by now, or 0 when there is none. */
  newerThan(keyTok: string, seq: number): Promise<number>;
}

/** Who may be a head: a message for this subscription, of its types, and not a resumed copy. */
export function isHeadCandidate(
  found: StoredMessage,
  names: Names,
  subToken: string,
  matches: (type: string) => boolean,
): boolean {
  const only = found.header(ONLY_HEADER);
  if (only !== undefined && only !== subToken) return false;
  if (found.header(RESUMES_HEADER) !== undefined) return false;
  return matches(typeOfSubject(names.stream, found.subject));
}

/** Heads of partition keys: one `next_by_subj` lookup on the key's subject (per skipped type). */
export class SubjectHeads implements KeyHeads {
  constructor(
    private readonly store: NatsStore,
    private readonly names: Names,
    private readonly subToken: string,
    private readonly types: readonly string[],
    private readonly matches: (type: string) => boolean,
  ) {}

  async headOf(keyTok: string, from: number, upTo: number): Promise<number> {
    let head = upTo;
    for (const subject of this.names.keySubjects(keyTok, this.types)) {
      let at = from;
      while (at < head) {
        const found = await this.store.nextMessage(this.names.stream, at, subject);
        if (found === undefined || found.seq >= head) break;
        if (isHeadCandidate(found, this.names, this.subToken, this.matches)) {
          head = found.seq;
          break;
        }
        at = found.seq + 1;
      }
    }
    return head;
  }

  async nextHeadAfter(keyTok: string, done: number): Promise<number> {
    const head = await this.headOf(keyTok, done + 1, Number.MAX_SAFE_INTEGER);
    return head === Number.MAX_SAFE_INTEGER ? 0 : head;
  }

  newerThan(keyTok: string, seq: number): Promise<number> {
    return this.nextHeadAfter(keyTok, seq);
  }
}
