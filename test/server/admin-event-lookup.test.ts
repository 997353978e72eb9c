// Finding an event by id alone, without an index on id: the walk over distinct sources through
// events_source_id finds it (the newest when two sources share an id), answers "none" without a
// scan, and past 1,000 sources falls back to the scan and still finds it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminQueries } from '../../src/bus/sqlite/admin-sql.js';
import { EventById } from '../../src/bus/sqlite/event-by-id-sql.js';
import { LineageQueries } from '../../src/bus/sqlite/lineage-sql.js';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { toEvent } from '../../src/core/envelope.js';

let dir: string;
let bus: SqliteBus;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agentd-lookup-'));
  bus = new SqliteBus({ path: join(dir, 'agentd.db') });
});
afterEach(async () => {
  await bus.close();
  rmSync(dir, { recursive: true, force: true });
});

const event = (id: string, source: string, type = 't.one') =>
  toEvent({ id, type, data: { from: source } }, { source, trust: 'internal' });

/** The plan SQLite picks for a statement, its steps joined. */
function plan(sql: string, ...params: string[]): string {
  return (bus.db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[])
    .map((row) => row.detail)
    .join('; ');
}

describe('event lookup by id', () => {
  it('finds an event among many sources, the newest when two sources share its id', async () => {
    await bus.publish([event('a-1', 'github'), event('shared', 'slack'), event('b-1', 'cron')]);
    await bus.publish([event('shared', 'github', 't.two')]);
    const lookup = new EventById(bus.db);
    expect(lookup.find('a-1')).toMatchObject({ seq: 1 });
    expect(JSON.parse(lookup.find('shared')?.envelope ?? '{}')).toMatchObject({
      source: 'github',
      type: 't.two',
    });
    expect(lookup.find('missing')).toBeUndefined();
  });

  it('finds nothing in an empty store', () => {
    expect(new EventById(bus.db).find('x')).toBeUndefined();
  });

  it('seeks through the unique (source, id) index instead of scanning', () => {
    expect(plan(`SELECT seq FROM events WHERE source = ? AND id = ?`, 's', 'x')).toMatch(
      /SEARCH events USING (COVERING )?INDEX events_source_id \(source=\? AND id=\?\)/,
    );
    expect(plan(`SELECT min(source) AS source FROM events WHERE source > ?`, 's')).toMatch(
      /SEARCH events USING COVERING INDEX events_source_id \(source>\?\)/,
    );
  });

  it('falls back to a scan past 1,000 sources, and still finds the event', async () => {
    const many = Array.from({ length: 1_001 }, (_, i) => event(`e-${i}`, `src-${i}`));
    await bus.publish(many);
    expect(JSON.parse(new EventById(bus.db).find('e-1000')?.envelope ?? '{}')).toMatchObject({
      source: 'src-1000',
    });
  });

  it('serves GET /api/events/:id and the lineage of an event', async () => {
    await bus.publish([event('root', 'github'), event('other', 'slack')]);
    expect(new AdminQueries(bus.db).event('root')?.event).toMatchObject({
      id: 'root',
      data: { from: 'github' },
    });
    expect(new LineageQueries(bus.db).lineage('root')?.root).toMatchObject({ id: 'root' });
    expect(new AdminQueries(bus.db).event('nope')).toBeUndefined();
  });
});
