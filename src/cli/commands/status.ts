// agentd status: is the daemon up, and each route's backlog, failures and dead letters.
import type { Command } from 'commander';
import { SqliteInspector } from '../../bus/sqlite/inspect-sql.js';
import { readDaemon } from '../../runtime/daemon-file.js';
import {
  duration,
  locateStore,
  openExistingStore,
  printJson,
  printTable,
  withStore,
  type StoreOptions,
} from '../cli-support.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('daemon state and per-route backlog, runs and dead letters')
    .option('-c, --config <file>', 'config file')
    .option('-d, --data-dir <dir>', 'store directory')
    .option('--json', 'print JSON')
    .action(async (opts: StoreOptions & { json?: boolean }) => {
      const store = await locateStore(opts);
      const daemon = readDaemon(store.dataDir);
      const snapshot = await withStore(openExistingStore(store), (bus) => {
        const inspector = new SqliteInspector(bus.db);
        return { events: inspector.totalEvents(), routes: inspector.routes() };
      });
      const status = {
        daemon: daemon === undefined ? null : daemon,
        store: store.dbPath,
        config: store.loaded.file ?? null,
        events: snapshot?.events ?? 0,
        routes: snapshot?.routes ?? [],
      };
      if (opts.json === true) return printJson(status);
      process.stdout.write(
        `${daemon === undefined ? 'daemon: not running' : `daemon: running (pid ${daemon.pid}) on ${daemon.url}`}\n` +
          `store: ${status.store} (${status.events} events)\nconfig: ${status.config ?? '(none)'}\n`,
      );
      printTable(
        ['route', 'types', 'queued', 'running', 'retrying', 'dead', 'completed', 'oldest queued'],
        status.routes.map((r) => [
          r.active ? r.route : `${r.route} (removed from config)`,
          r.types.join(', '),
          r.queued,
          r.running,
          r.retrying,
          r.dead,
          r.completed,
          duration(r.oldestQueuedAgeMs),
        ]),
        'no routes yet (they are registered when the daemon starts)',
      );
    });
}
