// The dashboard reads the admin API through server/admin-types.ts: what the server holds must fit
// those types (checked by tsc, as `npm run typecheck` runs it), and the lists must agree.
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  ACTION_STATES as STORE_ACTION_STATES,
  type StoredAction,
} from '../../src/bus/outbox-store.js';
import type { AgentdEvent } from '../../src/core/envelope.js';
import type { BudgetStatus } from '../../src/governor/budget-ledger.js';
import type { CircuitSnapshot } from '../../src/governor/circuit-breaker.js';
import type { PauseStatus } from '../../src/governor/governor-status.js';
import type { LiveRunStatus } from '../../src/observe/live-feed.js';
import {
  ACTION_STATES,
  RUN_STATUSES,
  type BudgetView,
  type CircuitView,
  type EventEnvelope,
  type OutboxAction,
  type PauseView,
  type RunStatus,
} from '../../src/server/admin-types.js';

describe('the admin API types', () => {
  it('list every action state the store has, and every run status', () => {
    expect([...ACTION_STATES]).toEqual([...STORE_ACTION_STATES]);
    expect(new Set(RUN_STATUSES).size).toBe(RUN_STATUSES.length);
    expectTypeOf<(typeof RUN_STATUSES)[number]>().toEqualTypeOf<RunStatus>();
  });

  it('fit what the server sends: events, outbox actions, the governor', () => {
    expectTypeOf<AgentdEvent>().toMatchTypeOf<EventEnvelope>();
    expectTypeOf<StoredAction>().toMatchTypeOf<OutboxAction>();
    expectTypeOf<BudgetStatus>().toMatchTypeOf<BudgetView>();
    expectTypeOf<PauseStatus>().toMatchTypeOf<PauseView>();
    expectTypeOf<CircuitSnapshot>().toMatchTypeOf<CircuitView>();
    expectTypeOf<LiveRunStatus>().toMatchTypeOf<RunStatus | 'running'>();
  });
});
