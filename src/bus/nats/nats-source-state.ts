// Source state on NATS: a KV bucket of its own (`<stream>_sources`), without the TTL that the bus's
// state bucket has, so a schedule that fires once a month still finds its last slot.
import { Kvm, type KV } from '@nats-io/kv';
import type { SourceStateStore } from '../../core/source-state.js';
import type { NatsStore } from './nats-store.js';

export class NatsSourceState implements SourceStateStore {
  private constructor(private readonly kv: KV) {}

  /** Creates the bucket when missing (or binds to it). */
  static async open(
    store: NatsStore,
    options: { replicas?: number } = {},
  ): Promise<NatsSourceState> {
    const kv = await new Kvm(store.js).create(`${store.names.stream}_sources`, {
      history: 1,
      replicas: options.replicas ?? 1,
      description: 'agentd source state (schedule cursors)',
    });
    return new NatsSourceState(kv);
  }

  async get(source: string, key: string): Promise<string | undefined> {
    const entry = await this.kv.get(kvKey(source, key));
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return entry.string();
  }

  async set(source: string, key: string, value: string): Promise<void> {
    await this.kv.put(kvKey(source, key), value);
  }
}

// KV keys allow letters, digits and `-_=./`; base64url keeps any source name and key within them.
function kvKey(source: string, key: string): string {
  const token = (text: string) => Buffer.from(text, 'utf8').toString('base64url') || '=';
  return `${token(source)}.${token(key)}`;
}
