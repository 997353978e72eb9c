// Durable key-value state for sources (a schedule's last fired slot): small facts that must survive
// a restart. The bus's store keeps them (a SQLite table, or a NATS KV bucket), per source name.

/** One source's own keys. Values are strings; a source that needs structure stores JSON. */
export interface SourceState {
  get(key: string): Promise<string | undefined>;
  /** Resolves once the value is durable. */
  set(key: string, value: string): Promise<void>;
}

/** What a bus implementation provides: every source's keys, kept apart by source name. */
export interface SourceStateStore {
  get(source: string, key: string): Promise<string | undefined>;
  set(source: string, key: string, value: string): Promise<void>;
}

/** The view of `store` that one source sees. */
export function sourceStateOf(store: SourceStateStore, source: string): SourceState {
  return {
    get: (key) => store.get(source, key),
    set: (key, value) => store.set(source, key, value),
  };
}

/** Keeps state in memory only: for tests, and for sources started without a store. */
export class MemorySourceState implements SourceStateStore {
  private readonly values = new Map<string, string>();

  async get(source: string, key: string): Promise<string | undefined> {
    return this.values.get(`${source}\n${key}`);
  }

  async set(source: string, key: string, value: string): Promise<void> {
    this.values.set(`${source}\n${key}`, value);
  }
}
