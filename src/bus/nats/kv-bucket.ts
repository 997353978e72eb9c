// One JetStream KV bucket seen as JSON entries with revisions: every change that must not be lost to
// a race is a compare-and-set on the entry's revision (0: the key must not exist yet).
import type { KV, KvEntry } from '@nats-io/kv';

export interface Versioned<T> {
  value: T;
  revision: number;
}

export class KvBucket {
  constructor(readonly kv: KV) {}

  async get<T>(key: string): Promise<Versioned<T> | undefined> {
    const entry: KvEntry | null = await this.kv.get(key);
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return { value: entry.json<T>(), revision: entry.revision };
  }

  /** Stores `value` unless the key exists; returns its revision, or 0 when it existed. */
  async create(key: string, value: unknown): Promise<number> {
    return this.swap(key, value, 0);
  }

  /** Compare-and-set: the new revision, or 0 when the entry was not at `revision` any more. */
  async swap(key: string, value: unknown, revision: number): Promise<number> {
    try {
      return revision === 0
        ? await this.kv.create(key, JSON.stringify(value))
        : await this.kv.update(key, JSON.stringify(value), revision);
    } catch (error) {
      if (isWrongLastSequence(error)) return 0;
      throw error;
    }
  }

  /** Deletes the entry if it is still at `revision`; false when it had moved on. */
  async deleteAt(key: string, revision: number): Promise<boolean> {
    try {
      await this.kv.delete(key, { previousSeq: revision });
      return true;
    } catch (error) {
      if (isWrongLastSequence(error)) return false;
      throw error;
    }
  }

  /** Removes the entry and its history if it is still at `revision`; watchers see a PURGE. */
  async purgeAt(key: string, revision: number): Promise<boolean> {
    try {
      await this.kv.purge(key, { previousSeq: revision });
      return true;
    } catch (error) {
      if (isWrongLastSequence(error)) return false;
      throw error;
    }
  }
}

export function isWrongLastSequence(error: unknown): boolean {
  const e = error as { message?: string; code?: number };
  return /wrong last sequence|key exists/i.test(e.message ?? '') || e.code === 10071;
}
