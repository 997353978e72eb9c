// Read-compute-write on one entry of the governor's KV bucket, as a compare-and-set on the revision
// read: shared by the NATS governor store (budgets, pauses, chains) and the shared rate buckets.
import { createHash } from 'node:crypto';
import type { KvBucket, Versioned } from '../bus/nats/kv-bucket.js';

/** A name as a key token: KV keys allow few characters, so scopes, routes and keys are hashed. */
export function keyToken(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** The next value and what the caller gets back; without `value` nothing is written. */
export type Change<T, R> = { value: T; result: R } | { result: R };

/** Compare-and-set retries before giving up: only an entry changing without pause gets there. */
const MAX_TRIES = 200;

/**
 * Reads the entry, computes its next value and writes it if the entry is still at the revision
 * read; otherwise reads again. No write is ever based on a value another worker replaced.
 */
export async function changeEntry<T, R>(
  bucket: KvBucket,
  bucketName: string,
  key: string,
  next: (was: T | undefined) => Change<T, R>,
): Promise<R> {
  for (let attempt = 1; attempt <= MAX_TRIES; attempt++) {
    const found: Versioned<T> | undefined = await bucket.get<T>(key);
    const step = next(found?.value);
    if (!('value' in step)) return step.result;
    if ((await bucket.swap(key, step.value, found?.revision ?? 0)) > 0) return step.result;
    // Contended: back off a little, at random, so that racing workers stop colliding.
    if (attempt > 2) await sleep(Math.random() * Math.min(100, attempt * 5));
  }
  throw new Error(
    `the governor store entry ${key} in bucket ${bucketName} changed under every one of ${MAX_TRIES} tries; nothing was written`,
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
