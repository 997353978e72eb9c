// agentd runs: handler runs, newest first, with status, attempts and the last error.
import type { Command } from 'commander';
import { RUN_STATUSES, SqliteInspector, type RunStatus } from '../../bus/sqlite/inspect-sql.js';
import {
  duration,
  localTime,
  locateStore,
  openHistoryFile,
  parsePositiveInt,
  printJson,
  printTable,
  shorten,
  UsageError,
  withStore,
  type StoreOptions,
} from '../cli-support.js';

interface RunsOptions extends StoreOptions {
  route?: string;
  status?: string;
  event?: string;
  limit: string;
  json?: boolean;
}

export function registerRuns(program: Command): void {
  program
    .command('runs')
    .description('list runs (one per route and event, across its attempts), newest first')
    .option('-r, --route <name>', 'only this route')
    .option('-s, --status <status>', `only this status: ${RUN_STATUSES.join(', ')}`)
    .option('-e, --event <id>', 'only runs of this event id')
    .option('-n, --limit <n>', 'how many', '20')
    .option('-c, --config <file>', 'config file')
    .option('-d, --data-dir <dir>', 'store directory')
    .option('--json', 'print JSON')
    .action(async (opts: RunsOptions) => {
      const limit = parsePositiveInt(opts.limit, '--limit');
      if (opts.status !== undefined && !RUN_STATUSES.includes(opts.status as RunStatus)) {
        throw new UsageError(
          `--status expects one of ${RUN_STATUSES.join(', ')}, got "${opts.status}"`,
        );
      }
      const store = await locateStore(opts);
      const runs = await withStore(openHistoryFile(store, 'agentd runs'), (bus) =>
        new SqliteInspector(bus.db).runs({
          limit,
          ...(opts.route === undefined ? {} : { route: opts.route }),
          ...(opts.status === undefined ? {} : { status: opts.status as RunStatus }),
          ...(opts.event === undefined ? {} : { eventId: opts.event }),
        }),
      );
      if (opts.json === true) return printJson(runs ?? []);
      printTable(
        ['run', 'route', 'status', 'attempt', 'event', 'started', 'took', 'last error'],
        (runs ?? []).map((r) => [
          r.runId,
          r.route,
          r.status,
          r.attempt,
          `${r.eventType} ${r.eventId}`,
          localTime(r.startedAt),
          duration(r.durationMs),
          shorten(r.errors.at(-1)?.error ?? r.reason ?? '', 50),
        ]),
        'no runs yet',
      );
    });
}
