// agentd events: recent events and what each route made of them; --follow streams new ones.
import type { Command } from 'commander';
import { SqliteInspector, type StoredEvent } from '../../bus/sqlite/inspect-sql.js';
import { compilePattern } from '../../core/type-pattern.js';
import {
  localTime,
  locateStore,
  openHistoryFile,
  openStore,
  parsePositiveInt,
  printJson,
  printTable,
  shorten,
  UsageError,
  withStore,
  type StoreOptions,
} from '../cli-support.js';

interface EventsOptions extends StoreOptions {
  follow?: boolean;
  type?: string;
  limit: string;
  json?: boolean;
}

export function registerEvents(program: Command): void {
  program
    .command('events')
    .description('list recent events (newest first) with their runs per route')
    .option('-f, --follow', 'keep printing new events as they are stored (Ctrl-C stops)')
    .option('-t, --type <pattern>', 'only types matching: exact, a.* or a.**')
    .option('-n, --limit <n>', 'how many', '20')
    .option('-c, --config <file>', 'config file')
    .option('-d, --data-dir <dir>', 'store directory')
    .option('--json', 'JSON (one object per line with --follow)')
    .action(async (opts: EventsOptions) => {
      const limit = parsePositiveInt(opts.limit, '--limit');
      let match: ((type: string) => boolean) | undefined;
      try {
        match = opts.type === undefined ? undefined : compilePattern(opts.type);
      } catch (error) {
        throw new UsageError((error as Error).message);
      }
      const store = await locateStore(opts);
      const bus = openHistoryFile(store, 'agentd events');
      if (bus === undefined && opts.follow !== true)
        return opts.json === true ? printJson([]) : undefined;
      const filter = match === undefined ? { limit } : { limit, match };
      if (opts.follow !== true) {
        await withStore(bus, (b) => {
          const events = new SqliteInspector(b.db).events(filter);
          if (opts.json === true) return printJson(events);
          printTable(['stored', 'type', 'id', 'key', 'runs'], events.map(row), 'no events yet');
        });
        return;
      }
      await withStore(bus ?? openStore(store), (b) =>
        follow(new SqliteInspector(b.db), filter, opts.json === true),
      );
    });
}

function row(e: StoredEvent): string[] {
  const runs = Object.entries(e.runs)
    .map(([route, status]) => `${route}: ${status}`)
    .join(', ');
  return [
    localTime(e.storedAt),
    e.event.type,
    e.event.id,
    e.event.partitionkey ?? '',
    shorten(runs || '(no route)', 60),
  ];
}

async function follow(
  inspector: SqliteInspector,
  filter: { limit: number; match?: (type: string) => boolean },
  json: boolean,
): Promise<void> {
  const print = (e: StoredEvent) =>
    process.stdout.write(
      json
        ? `${JSON.stringify(e)}\n`
        : `${row(e)
            .filter((s) => s !== '')
            .join('  ')}\n`,
    );
  // The top first: an event stored between the two queries is then printed by the loop, not lost.
  let after = inspector.lastSeq();
  inspector
    .events(filter)
    .filter((e) => e.seq <= after)
    .reverse()
    .forEach(print);
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  while (!stop.signal.aborted) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    // Scan up to a fixed top so events that do not match are never scanned twice.
    const top = inspector.lastSeq();
    inspector
      .events({ ...filter, afterSeq: after, uptoSeq: top, limit: Number.MAX_SAFE_INTEGER })
      .forEach(print);
    after = top;
  }
}
