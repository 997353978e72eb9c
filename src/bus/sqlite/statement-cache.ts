// Prepared statements for SQL built per request (the admin filters): a filter's few shapes recur,
// so each is compiled once. Bounded, since id lists of any length make shapes of their own.
import type Database from 'better-sqlite3';

const MAX_STATEMENTS = 256;

export class StatementCache {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {}

  get<P extends unknown[], R>(sql: string): Database.Statement<P, R> {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      if (this.statements.size === MAX_STATEMENTS) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement as Database.Statement<P, R>;
  }
}
