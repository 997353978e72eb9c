// agentd status: is the daemon up, and per route its backlog, runs in flight and per minute,
// failures and dead letters, budget and pause; the global budget and open circuits. What lives in
// a running daemon's memory (runs in flight, rates, circuits, sources' rejects) is read over its
// admin API; budgets and pauses also come from the store when no daemon answers.
import type { Command } from 'commander';
import { SqliteInspector } from '../../bus/sqlite/inspect-sql.js';
import type { BudgetAmountStatus, BudgetStatus } from '../../governor/budget-ledger.js';
import type { CircuitSnapshot } from '../../governor/circuit-breaker.js';
import type { PauseStatus } from '../../governor/governor-status.js';
import { SqliteGovernorStore } from '../../governor/sqlite-governor-store.js';
import { storedGovernorStatus } from '../../governor/stored-status.js';
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

/** What the running daemon's GET /api/routes adds to each route (see server/admin-api.ts). */
interface LiveRoute {
  route: string;
  inFlight: number;
  runsPerMinute: number;
  priority: number;
  pause: PauseStatus | null;
  budget: BudgetStatus | null;
}

interface LiveGovernor {
  global: { budget?: BudgetStatus; paused?: PauseStatus };
  circuits: CircuitSnapshot[];
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('daemon state and per route: backlog, runs, dead letters, budget and pause')
    .option('-c, --config <file>', 'config file')
    .option('-d, --data-dir <dir>', 'store directory')
    .option('--json', 'print JSON')
    .action(async (opts: StoreOptions & { json?: boolean }) => {
      const store = await locateStore(opts);
      const daemon = readDaemon(store.dataDir);
      if (onNats(store)) return printNatsStatus(store, daemon, opts.json === true);
      const { config } = store.loaded;
      const snapshot = await withStore(openExistingStore(store), async (bus) => {
        const inspector = new SqliteInspector(bus.db);
        return {
          events: inspector.totalEvents(),
          routes: inspector.routes(),
          backlogs: await bus.backlogs(),
          governor: await storedGovernorStatus(config, await SqliteGovernorStore.open(bus)),
        };
      });
      const token = clientToken(config.server?.token, store.dataDir);
      const live = daemon === undefined ? null : await daemonRead(daemon, token);
      const liveRoutes = new Map(live?.routes.routes.map((r) => [r.route, r]));
      const stored = new Map(snapshot?.governor.routes.map((r) => [r.route, r]));
      const routes = (snapshot?.routes ?? []).map((r) => {
        const now = liveRoutes.get(r.route);
        const kept = stored.get(r.route);
        return {
          ...r,
          backlog: snapshot?.backlogs.get(r.route) ?? 0,
          // Known only to a running daemon: null without one.
          inFlight: now?.inFlight ?? null,
          runsPerMinute: now?.runsPerMinute ?? null,
          priority: now?.priority ?? kept?.priority ?? 0,
          budget: now?.budget ?? kept?.budget ?? null,
          paused: now === undefined ? (kept?.paused ?? null) : now.pause,
        };
      });
      const global = live?.routes.governor?.global ?? snapshot?.governor.global ?? {};
      const status = {
        daemon: daemon === undefined ? null : daemon,
        store: store.dbPath,
        config: store.loaded.file ?? null,
        events: snapshot?.events ?? 0,
        routes,
        governor: {
          budget: global.budget ?? null,
          paused: global.paused ?? null,
          // Circuits are kept in the daemon's memory: null without one.
          circuits: live?.routes.governor?.circuits ?? null,
        },
        // Only a running daemon knows its sources' reject counts (they are kept in memory).
        sources: live?.sources ?? null,
      };
      if (opts.json === true) return printJson(status);
      process.stdout.write(
        `${daemon === undefined ? 'daemon: not running' : `daemon: running (pid ${daemon.pid}) on ${daemon.url}`}\n` +
          `store: ${status.store} (${status.events} events)\nconfig: ${status.config ?? '(none)'}\n`,
      );
      printTable(
        [
          'route',
          'types',
          'backlog',
          'running',
          'runs/min',
          'retrying',
          'dead',
          'completed',
          'oldest queued',
          'budget',
          'paused',
        ],
        routes.map((r) => [
          r.active ? r.route : `${r.route} (removed from config)`,
          r.types.join(', '),
          r.backlog,
          r.inFlight ?? r.running,
          r.runsPerMinute ?? '',
          r.retrying,
          r.dead,
          r.completed,
          duration(r.oldestQueuedAgeMs),
          r.budget === null ? '' : describeBudget(r.budget),
          r.paused === null ? 'no' : describePause(r.paused),
        ]),
        'no routes yet (they are registered when the daemon starts)',
      );
      if (status.governor.budget !== null)
        process.stdout.write(
          `global budget: ${describeBudget(status.governor.budget)}${status.governor.paused === null ? '' : ` (paused: ${describePause(status.governor.paused)})`}\n`,
        );
      const unwell = (status.governor.circuits ?? []).filter((c) => c.state !== 'closed');
      if (unwell.length > 0)
        printTable(
          ['circuit', 'state', 'until', 'failures', 'last error'],
          unwell.map((c) => [
            `${c.kind} ${c.name}`,
            c.state,
            c.until ?? '',
            c.failures,
            c.lastError ?? '',
          ]),
          '',
        );
      const sources = status.sources;
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

/** `600/1000 tokens this day (400 left)`, cost likewise, joined. */
function describeBudget(budget: BudgetStatus): string {
  const part = (amount: BudgetAmountStatus, unit: string, money: boolean) => {
    const fmt = (n: number) => (money ? `$${n}` : `${n}`);
    return `${fmt(amount.used)}/${fmt(amount.limit)}${unit} (${fmt(amount.left)} left)`;
  };
  const parts = [
    ...(budget.tokens === undefined ? [] : [part(budget.tokens, ' tokens', false)]),
    ...(budget.costUsd === undefined ? [] : [part(budget.costUsd, '', true)]),
  ];
  // After `agentd resume` on a spent budget the route runs past its limit: say so, and until when.
  const lifted =
    budget.liftedUntil === undefined ? '' : `; limit lifted by resume until ${budget.liftedUntil}`;
  return `${parts.join(', ')} this ${budget.window}${lifted}`;
}

function describePause(pause: PauseStatus): string {
  return pause.cause === 'operator'
    ? `by ${pause.by ?? 'an operator'}: ${pause.reason}`
    : `budget spent, until ${pause.until ?? 'the window ends'}`;
}

interface SourceStatus {
  name: string;
  kind: string;
  path?: string;
  rejects?: Record<string, number>;
}

interface DaemonRead {
  sources: SourceStatus[] | null;
  routes: { routes: LiveRoute[]; governor: LiveGovernor | null };
}

/** The running daemon's sources and governor view; null when it does not answer. */
async function daemonRead(
  daemon: DaemonInfo,
  token: string | undefined,
): Promise<DaemonRead | null> {
  if (daemon.url === '') return null;
  const [sources, routes] = await Promise.all([
    daemonGet<{ sources: SourceStatus[] }>(daemon, '/sources', token),
    daemonGet<DaemonRead['routes']>(daemon, '/api/routes', token),
  ]);
  if (sources === null && routes === null) return null;
  return { sources: sources?.sources ?? null, routes: routes ?? { routes: [], governor: null } };
}

async function daemonGet<T>(
  daemon: DaemonInfo,
  path: string,
  token: string | undefined,
): Promise<T | null> {
  try {
    const response = await fetch(`${daemon.url}${path}`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(2_000),
    });
    if (!response.ok) return null;
    return (await response.json()) as T;
  } catch {
    return null;
  }
}
