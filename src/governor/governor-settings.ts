// From the config's `governor` section to the worker's GovernorSettings. The store holding budgets
// and pauses is the bus's (SQLite tables, or a JetStream KV bucket on NATS), chosen in app.ts.
import type { ResolvedConfig } from '../core/config.js';
import type { Budget } from '../core/route.js';
import type { CircuitSnapshot } from './circuit-breaker.js';
import type { GovernorSettings } from './governor.js';
import type { GovernorStore } from './governor-store.js';

export function governorSettings(
  config: ResolvedConfig,
  store: GovernorStore,
  circuits?: () => readonly CircuitSnapshot[],
): GovernorSettings {
  const governor = config.governor ?? {};
  return {
    store,
    ...(governor.budget === undefined ? {} : { budget: toBudget(governor.budget) }),
    ...(governor.loop === undefined ? {} : { loop: definedLimits(governor.loop) }),
    ...(circuits === undefined ? {} : { circuits }),
  };
}

type ConfigBudget = NonNullable<NonNullable<ResolvedConfig['governor']>['budget']>;

/** The schema's output (optional keys may hold undefined) as the Budget the ledger takes. */
function toBudget(budget: ConfigBudget): Budget {
  const reserve = budget.reserve;
  return {
    window: budget.window,
    ...(budget.tokens === undefined ? {} : { tokens: budget.tokens }),
    ...(budget.costUsd === undefined ? {} : { costUsd: budget.costUsd }),
    ...(budget.thresholds === undefined ? {} : { thresholds: budget.thresholds }),
    ...(reserve === undefined
      ? {}
      : {
          reserve: {
            ...(reserve.tokens === undefined ? {} : { tokens: reserve.tokens }),
            ...(reserve.costUsd === undefined ? {} : { costUsd: reserve.costUsd }),
          },
        }),
  };
}

function definedLimits(
  loop: NonNullable<NonNullable<ResolvedConfig['governor']>['loop']>,
): NonNullable<GovernorSettings['loop']> {
  return {
    ...(loop.maxDepth === undefined ? {} : { maxDepth: loop.maxDepth }),
    ...(loop.maxCycles === undefined ? {} : { maxCycles: loop.maxCycles }),
    ...(loop.maxRunsPerChain === undefined ? {} : { maxRunsPerChain: loop.maxRunsPerChain }),
  };
}
