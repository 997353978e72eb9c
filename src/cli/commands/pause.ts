// agentd pause <route> / agentd resume <route>: an operator's pause, kept in the governor store
// (SQLite, or the KV bucket every NATS worker reads; it survives restarts); a running daemon reads
// it again every half second. resume also lifts a spent budget's
// pause for the rest of its window (the route's, or with --global the global budget's).
import type { Command } from 'commander';
import { hostname, userInfo } from 'node:os';
import { openGovernorStore } from '../../app-stores.js';
import type { BudgetStatus } from '../../governor/budget-ledger.js';
import type { GovernorStore } from '../../governor/governor-store.js';
import { storedGovernorStatus } from '../../governor/stored-status.js';
import {
  locateStore,
  openConfiguredBus,
  printJson,
  UsageError,
  withStore,
  type CliStore,
  type StoreOptions,
} from '../cli-support.js';

interface PauseOptions extends StoreOptions {
  reason?: string;
  json?: boolean;
}

interface ResumeOptions extends StoreOptions {
  global?: boolean;
  json?: boolean;
}

const storeOptions = (command: Command) =>
  command
    .option('-c, --config <file>', 'config file')
    .option('-d, --data-dir <dir>', 'store directory')
    .option('--json', 'print JSON');

export function registerPause(program: Command): void {
  storeOptions(
    program
      .command('pause <route>')
      .description('stop a route taking deliveries (they stay queued) until agentd resume')
      .option('--reason <text>', 'why, shown by agentd status'),
  ).action(async (route: string, opts: PauseOptions) => {
    const store = await locateStore(opts);
    checkRoute(store, route);
    const reason = opts.reason ?? 'paused by an operator';
    const by = operator();
    await withGovernorStore(store, (governor) =>
      governor.pause({ route, reason, by, at: Date.now() }),
    );
    if (opts.json === true) return printJson({ paused: route, reason, by });
    process.stdout.write(
      `paused route ${route} (${reason}): its deliveries stay queued; a running daemon stops claiming them within a second\n`,
    );
  });

  storeOptions(
    program
      .command('resume [route]')
      .description(
        "let a paused route run again; also lifts its spent budget's pause for this window",
      )
      .option('--global', "lift the global budget's pause for the rest of its window"),
  ).action(async (route: string | undefined, opts: ResumeOptions) => {
    if (route === undefined && opts.global !== true)
      throw new UsageError('give a route to resume, or --global for the global budget');
    const store = await locateStore(opts);
    if (route !== undefined) checkRoute(store, route);
    const outcome = await withGovernorStore(store, async (governor) => {
      const unpaused = route === undefined ? false : await governor.unpause(route);
      const budgets = await storedGovernorStatus(store.loaded.config, governor);
      const lift = async (scope: string, budget: BudgetStatus | undefined) => {
        if (budget?.spent !== true) return undefined;
        const until = Date.parse(budget.resetsAt);
        await governor.liftBudget({ scope, until, by: operator() });
        return until;
      };
      return {
        unpaused,
        liftedUntil:
          route === undefined
            ? undefined
            : await lift(route, budgets.routes.find((r) => r.route === route)?.budget),
        globalLiftedUntil:
          opts.global === true ? await lift('global', budgets.global.budget) : undefined,
      };
    });
    const { unpaused, liftedUntil, globalLiftedUntil } = outcome ?? {};
    if (opts.json === true)
      return printJson({
        route: route ?? null,
        unpaused: unpaused === true,
        budgetLiftedUntil: iso(liftedUntil),
        globalBudgetLiftedUntil: iso(globalLiftedUntil),
      });
    const lines: string[] = [];
    if (route !== undefined) {
      if (unpaused === true) lines.push(`resumed route ${route}`);
      if (liftedUntil !== undefined)
        lines.push(`lifted the spent budget of route ${route} until ${iso(liftedUntil)}`);
      if (unpaused !== true && liftedUntil === undefined)
        lines.push(`route ${route} was not paused by an operator, and its budget is not spent`);
    }
    if (opts.global === true)
      lines.push(
        globalLiftedUntil === undefined
          ? 'the global budget is not spent'
          : `lifted the spent global budget until ${iso(globalLiftedUntil)}`,
      );
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}

/** Unknown routes are a usage error naming the routes there are. */
function checkRoute(store: CliStore, route: string): void {
  const names = store.loaded.config.routes.map((r) => r.name);
  if (names.includes(route)) return;
  const where = store.loaded.file ?? 'the config';
  throw new UsageError(
    names.length === 0
      ? `no route "${route}": ${where} has no routes`
      : `no route "${route}" in ${where}; routes: ${names.join(', ')}`,
  );
}

/** The configured bus's governor store: SQLite tables, or the KV bucket every NATS worker reads. */
async function withGovernorStore<T>(
  store: CliStore,
  fn: (governor: GovernorStore) => Promise<T>,
): Promise<T | undefined> {
  return withStore(await openConfiguredBus(store), async (bus) =>
    fn(await openGovernorStore(bus, store.loaded.config)),
  );
}

function operator(): string {
  return `${userInfo().username}@${hostname()}`;
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}
