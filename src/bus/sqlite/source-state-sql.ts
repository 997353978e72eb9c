// Source state on the embedded store: one row per (source, key) in `source_state`. Writes go
// through the bus's group commit, so `set` resolves only once the value is durable.
import type { SourceStateStore } from '../../core/source-state.js';
import type { SqliteBus } from './sqlite-bus.js';

export class SqliteSourceState implements SourceStateStore {
  private readonly select;
  private readonly upsert;

  constructor(private readonly bus: SqliteBus) {
    this.select = bus.db.prepare<[string, string], { value: string }>(
      `SELECT value FROM source_state WHERE source = ? AND key = ?`,
    );
    // Last write wins: a source is the only writer of its own keys.
    this.upsert = bus.db.prepare<[string, string, string, number]>(
      `INSERT INTO source_state (source, key, value, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (source, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
    );
  }

  async get(source: string, key: string): Promise<string | undefined> {
    return this.select.get(source, key)?.value;
  }

  async set(source: string, key: string, value: string): Promise<void> {
    await this.bus.write(() => this.upsert.run(source, key, value, Date.now()));
  }
}
