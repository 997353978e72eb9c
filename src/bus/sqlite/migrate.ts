// Brings a store written by an older agentd up to the current schema before schema.ts's CREATE
// statements run (their new indexes name new columns). Each step checks what is there, so a file
// two processes open at once is migrated once: the second finds the columns and adds none.
import type Database from 'better-sqlite3';

// Schema 3 adds only indexes (for the admin API's filters); schema.ts's CREATE INDEX IF NOT EXISTS
// builds them on the first open, in the same transaction that records the new version.

// Columns added in schema 2 (route keys and the governor). NULL or the default on old rows is the
// old meaning: no route key, no virtual time, not batched. New tables come from schema.ts.
const ADDED_COLUMNS: Record<string, readonly (readonly [string, string])[]> = {
  subscriptions: [
    ['governor', 'TEXT'],
    ['vt', 'REAL NOT NULL DEFAULT 0'],
  ],
  deliveries: [
    ['rkey', 'TEXT'],
    ['vt', 'REAL'],
    ['batch', 'INTEGER'],
  ],
};

export function migrate(db: Database.Database): void {
  db.transaction(() => {
    for (const [table, columns] of Object.entries(ADDED_COLUMNS)) {
      const existing = new Set(
        db
          .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${table}')`)
          .all()
          .map((column) => column.name),
      );
      // A new file has no tables yet: schema.ts creates them whole.
      if (existing.size === 0) continue;
      for (const [column, type] of columns)
        if (!existing.has(column)) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
    }
  }).immediate();
}
