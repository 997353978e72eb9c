// agentd status: is the daemon up, and each route's backlog, failures and dead letters.
import type { Command } from 'commander';
import { SqliteInspector } from '../../bus/sqlite/inspect-sql.js';
import { clientToken } from '../../runtime/admin-token.js';
import { readDaemon, type DaemonInfo } from '../../runtime/daemon-file.js';
import {
  duration,
  locateStore,
  onNats,
  openExistingStore,
  printJson,
  printTable,
  withStore,
  type StoreOptions,
} from '../cli-support.js';
import { printNatsStatus } from './status-nats.js';

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
      if (onNats(store)) return printNatsStatus(store, daemon, opts.json === true);
      const snapshot = await withStore(openExistingStore(store), (bus) => {
        const inspector = new SqliteInspector(bus.db);
        return { events: inspector.totalEvents(), routes: inspector.routes() };
      });
      const sources =
        daemon === undefined
          ? null
          : await daemonSources(
              daemon,
              clientToken(store.loaded.config.server?.token, store.dataDir),
            );
      const status = {
        daemon: daemon === undefined ? null : daemon,
        store: store.dbPath,
        config: store.loaded.file ?? null,
        events: snapshot?.events ?? 0,
        routes: snapshot?.routes ?? [],
        // Only a running daemon knows its sources' reject counts (they are kept in memory).
        sources,
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
      if (sources !== null && sources.length > 0)
        printTable(
          ['source', 'kind', 'path', 'rejected'],
          sources.map((s) => [
            s.name,
            s.kind,
            s.path ?? '',
            Object.entries(s.rejects ?? {})
              .map(([reason, count]) => `${reason} ${count}`)
              .join(', '),
          ]),
          '',
        );
    });
}

interface SourceStatus {
  name: string;
  kind: string;
  path?: string;
  rejects?: Record<string, number>;
}

/** The running daemon's sources and their reject counts; null when it does not answer. */
async function daemonSources(
  daemon: DaemonInfo,
  token: string | undefined,
): Promise<SourceStatus[] | null> {
  if (daemon.url === '') return null;
  try {
    const response = await fetch(`${daemon.url}/sources`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(2_000),
    });
    if (!response.ok) return null;
    return ((await response.json()) as { sources: SourceStatus[] }).sources;
  } catch {
    return null;
  }
}
