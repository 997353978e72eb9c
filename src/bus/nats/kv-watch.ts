// Mirroring part of a KV bucket in memory: a watch over a key filter that applies every entry as it
// comes, and resolves once the entries already stored are in (so a reader never starts from less).
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { NatsStore } from './nats-store.js';

export interface KeyWatch {
  stop(): Promise<void>;
}

export async function watchKeys(
  store: NatsStore,
  bucket: string,
  kv: KV,
  filter: string,
  apply: (entry: KvWatchEntry) => void,
): Promise<KeyWatch> {
  // An empty selection sends nothing to wait for: ask the stream whether it holds any first.
  const info = await store.jsm.streams.info(`KV_${bucket}`, {
    subjects_filter: `$KV.${bucket}.${filter}`,
  });
  const empty = Object.keys(info.state.subjects ?? {}).length === 0;
  const watch = await kv.watch({ key: filter });
  let loaded!: () => void;
  const initial = new Promise<void>((resolve) => (loaded = resolve));
  if (empty) loaded();
  const loop = (async () => {
    try {
      for await (const entry of watch) {
        apply(entry);
        if (entry.isUpdate || entry.delta === 0) loaded();
      }
    } finally {
      loaded();
    }
  })();
  await initial;
  return {
    async stop() {
      watch.stop();
      await loop;
    },
  };
}
