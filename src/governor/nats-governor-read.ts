// Reading every entry of a KV bucket under a key filter in one pass (values and delete markers),
// for the governor store's sweep: one ordered stream instead of a listing plus a get per key.
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { NatsStore } from '../bus/nats/nats-store.js';

export async function readBucket(
  store: NatsStore,
  kv: KV,
  bucket: string,
  filter: string,
): Promise<KvWatchEntry[]> {
  // A watch over nothing sends nothing to wait for: ask the stream whether it holds any first.
  const info = await store.jsm.streams.info(`KV_${bucket}`, {
    subjects_filter: `$KV.${bucket}.${filter}`,
  });
  if (Object.keys(info.state.subjects ?? {}).length === 0) return [];
  const entries: KvWatchEntry[] = [];
  const watch = await kv.watch({ key: filter });
  try {
    for await (const entry of watch) {
      entries.push(entry);
      // The last entry stored when the watch began (the client marks it an update, the server
      // says nothing is pending after it): what comes later is not part of this read.
      if (entry.isUpdate || entry.delta === 0) break;
    }
  } finally {
    watch.stop();
  }
  return entries;
}
