// The subscriptions table as fan-out sees it: every row's governor options, and the active rows
// compiled into fan-out targets.
import type Database from 'better-sqlite3';
import type { SubscriptionOptions } from '../bus.js';
import {
  compileTarget,
  parseGovernorSpec,
  type FanoutTarget,
  type GovernorSpec,
} from './governor-spec.js';

interface SubscriptionRow {
  name: string;
  types: string;
  ordering: string;
  active: number;
  governor: string | null;
}

export class SubscriptionRegistry {
  private targets: FanoutTarget[] = [];
  private readonly specs = new Map<string, GovernorSpec | undefined>();
  private readonly rows: Database.Statement<[], SubscriptionRow>;
  private readonly upsert: Database.Statement<[string, string, string, string | null, number]>;
  private readonly deactivate: Database.Statement<[number, string]>;

  constructor(db: Database.Database) {
    this.rows = db.prepare(`SELECT name, types, ordering, active, governor FROM subscriptions`);
    this.upsert = db.prepare(
      `INSERT INTO subscriptions (name, types, ordering, governor, active, updated_at)
       VALUES (?, ?, ?, ?, 1, ?)
       ON CONFLICT (name) DO UPDATE SET types = excluded.types, ordering = excluded.ordering,
         governor = excluded.governor, active = 1, updated_at = excluded.updated_at`,
    );
    this.deactivate = db.prepare(
      `UPDATE subscriptions SET active = 0, updated_at = ? WHERE name = ?`,
    );
  }

  /** Re-reads the table (after this process or another changed it). */
  load(): void {
    const targets: FanoutTarget[] = [];
    this.specs.clear();
    for (const row of this.rows.all()) {
      const spec = parseGovernorSpec(row.governor);
      this.specs.set(row.name, spec);
      if (row.active !== 1) continue;
      const ordering = row.ordering === 'none' ? 'none' : 'key';
      targets.push(compileTarget(row.name, JSON.parse(row.types) as string[], ordering, spec));
    }
    this.targets = targets;
  }

  /** Inside a write: stores the subscription's row, active. */
  store(
    name: string,
    options: SubscriptionOptions,
    spec: GovernorSpec | undefined,
    now: number,
  ): void {
    const governor = spec === undefined ? null : JSON.stringify(spec);
    this.upsert.run(name, JSON.stringify(options.types), options.ordering, governor, now);
  }

  /** Inside a write: deactivates every active subscription not named. */
  retainOnly(names: ReadonlySet<string>, now: number): void {
    for (const target of this.targets)
      if (!names.has(target.name)) this.deactivate.run(now, target.name);
  }

  get active(): readonly FanoutTarget[] {
    return this.targets;
  }

  target(name: string): FanoutTarget | undefined {
    return this.targets.find((target) => target.name === name);
  }

  /** True when the subscription (active or not) groups its deliveries into batches. */
  batches(name: string): boolean {
    return this.specs.get(name)?.batch !== undefined;
  }

  /** Deliveries or cancellations: true when some active subscription looks at this type. */
  looksAt(type: string): boolean {
    return this.targets.some(
      (target) => target.matches(type) || target.governance?.watches(type) === true,
    );
  }

  deliversTo(type: string): string[] {
    return this.targets.filter((target) => target.matches(type)).map((target) => target.name);
  }
}
