// What `agentd status` and GET /api/routes show of the governor: per route its priority, runs in
// flight and per minute, budget and pause; globally the slots, the global budget, and the open
// circuits (filled in by the circuit breakers of providers and outbox sinks).
import type { CircuitSnapshot } from './circuit-breaker.js';
import type { BudgetLedger, BudgetStatus } from './budget-ledger.js';
import type { LoopLimits } from './loop-guard.js';

export interface PauseStatus {
  /** 'operator': agentd pause; 'budget': the route's or the global budget is spent. */
  cause: 'operator' | 'budget';
  reason: string;
  /** Operator pauses: who paused it, and when (ISO 8601). */
  by?: string;
  since?: string;
  /** Budget pauses: when the window rolls over and the route resumes by itself (ISO 8601). */
  until?: string;
}

export interface RouteGovernorStatus {
  route: string;
  priority: number;
  inFlight: number;
  /** Runs started over the last minute. */
  runsPerMinute: number;
  budget?: BudgetStatus;
  paused?: PauseStatus;
}

export interface GovernorStatus {
  routes: RouteGovernorStatus[];
  global: {
    concurrency: number;
    /** Slots free right now, and claim loops waiting for one. */
    free: number;
    waiting: number;
    budget?: BudgetStatus;
    paused?: PauseStatus;
  };
  loop: LoopLimits;
  circuits: CircuitSnapshot[];
}

/** A spent budget's pause (its ledger's scope: the route's own, or the global one). */
export function budgetPause(ledger: BudgetLedger | undefined): PauseStatus | undefined {
  if (ledger?.spent() !== true) return undefined;
  return {
    cause: 'budget',
    reason: ledger.describeSpent(),
    until: new Date(ledger.resetsAt()).toISOString(),
  };
}
