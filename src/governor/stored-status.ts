// The governor's durable state as `agentd status` shows it without asking a daemon: each route's
// budget and pause, and the global budget, read from the GovernorStore and the config's limits.
// (Runs in flight, runs per minute and circuits live in a running daemon's memory only.)
import { systemClock, type Clock } from '../core/clock.js';
import type { ResolvedConfig } from '../core/config.js';
import type { Budget } from '../core/route.js';
import { BudgetLedger, type BudgetStatus } from './budget-ledger.js';
import type { GovernorStore } from './governor-store.js';
import { budgetPause, type PauseStatus } from './governor-status.js';
import { hearsAnnouncementsOnly } from './governor-events.js';

export interface StoredRouteStatus {
  route: string;
  priority: number;
  budget?: BudgetStatus;
  paused?: PauseStatus;
}

export interface StoredGovernorStatus {
  routes: StoredRouteStatus[];
  global: { budget?: BudgetStatus; paused?: PauseStatus };
}

export async function storedGovernorStatus(
  config: Pick<ResolvedConfig, 'routes' | 'governor'>,
  store: GovernorStore,
  clock: Clock = systemClock,
): Promise<StoredGovernorStatus> {
  const controls = await store.controls();
  const ledgerFor = async (scope: string, budget: BudgetLimits | undefined) => {
    if (budget === undefined) return undefined;
    const ledger = new BudgetLedger(scope, asBudget(budget), store, clock);
    await ledger.load();
    ledger.liftUntil(controls.lifts.find((l) => l.scope === scope)?.until ?? 0);
    return ledger;
  };
  const global = await ledgerFor('global', config.governor?.budget);
  const globalPause = budgetPause(global);
  const routes: StoredRouteStatus[] = [];
  for (const route of config.routes) {
    const ledger = await ledgerFor(route.name, route.budget);
    const operator = controls.pauses.find((p) => p.route === route.name);
    const paused: PauseStatus | undefined =
      operator !== undefined
        ? {
            cause: 'operator',
            reason: operator.reason,
            by: operator.by,
            since: new Date(operator.at).toISOString(),
          }
        : (budgetPause(ledger) ?? (hearsAnnouncementsOnly(route.types) ? undefined : globalPause));
    routes.push({
      route: route.name,
      priority: route.priority ?? 0,
      ...(ledger === undefined ? {} : { budget: ledger.status() }),
      ...(paused === undefined ? {} : { paused }),
    });
  }
  return {
    routes,
    global: {
      ...(global === undefined ? {} : { budget: global.status() }),
      ...(globalPause === undefined ? {} : { paused: globalPause }),
    },
  };
}

/** A route's Budget, or the config's governor.budget (whose optional keys may hold undefined). */
interface BudgetLimits {
  window: Budget['window'];
  tokens?: number | undefined;
  costUsd?: number | undefined;
}

function asBudget(limits: BudgetLimits): Budget {
  return {
    window: limits.window,
    ...(limits.tokens === undefined ? {} : { tokens: limits.tokens }),
    ...(limits.costUsd === undefined ? {} : { costUsd: limits.costUsd }),
  };
}
