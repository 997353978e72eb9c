// Contracts of agentd's internal events: the daemon starting, runs finishing or cancelled, dead
// letters, and the governor's (budgets, the loop guard, circuits, pauses). They are what routes
// reacting to agentd itself read, so they are versioned like any other type.
import { z } from 'zod';
import { defineEventType } from '../../core/event-type.js';
import type { TypeFamily } from './type-family.js';

const daemonStarted = defineEventType(
  'agentd.daemon.started',
  z.object({
    node: z.string(),
    pid: z.number(),
    url: z.string(),
    routes: z.array(z.string()),
    sources: z.array(z.string()),
  }),
  {
    description: 'the daemon started and serves',
    example: {
      node: 'build-host',
      pid: 4242,
      url: 'http://127.0.0.1:7700',
      routes: ['pr-reviewer'],
      sources: ['github'],
    },
  },
);

const run = {
  route: z.string(),
  runId: z.string(),
  attempt: z.number(),
  eventId: z.string(),
  eventSource: z.string(),
  eventType: z.string(),
  durationMs: z.number(),
  /** Token usage of agent handlers. */
  usage: z.unknown().optional(),
};
const exampleRun = {
  route: 'pr-reviewer',
  runId: '81',
  attempt: 1,
  eventId: '0f1c5c1e-7d0a-4a53-9b8e-2f6c0c8d1a11',
  eventSource: 'github:github',
  eventType: 'github.pull_request.opened',
  durationMs: 5120,
};

const runCompleted = defineEventType('agentd.run.completed', z.object(run), {
  description: 'a run succeeded (stored only when some route listens)',
  example: exampleRun,
});

const runFailed = defineEventType(
  'agentd.run.failed',
  z.object({ ...run, error: z.string(), willRetry: z.boolean() }),
  {
    description: 'an attempt of a run failed (stored only when some route listens)',
    example: { ...exampleRun, error: 'provider answered 529', willRetry: true },
  },
);

const dlqAdded = defineEventType(
  'agentd.dlq.added',
  z.object({
    deliveryId: z.string(),
    subscription: z.string(),
    eventId: z.string(),
    eventSource: z.string(),
    eventType: z.string(),
    attempts: z.number(),
    reason: z.string(),
  }),
  {
    description: 'a run was dead-lettered',
    example: {
      deliveryId: '81',
      subscription: 'pr-reviewer',
      eventId: '0f1c5c1e-7d0a-4a53-9b8e-2f6c0c8d1a11',
      eventSource: 'github:github',
      eventType: 'github.pull_request.opened',
      attempts: 5,
      reason: 'failed 5 of 5 attempts; last error: provider answered 529',
    },
  },
);

const runCancelled = defineEventType(
  'agentd.run.cancelled',
  z.object({ ...run, reason: z.string() }),
  {
    description:
      'a run was cancelled by a newer event for its key (singleton replace, cancelOn); what it recorded was discarded (stored only when some route listens)',
    example: { ...exampleRun, reason: 'replaced by a newer event for key acme/widgets#42' },
  },
);

const budgetThreshold = defineEventType(
  'agentd.budget.threshold',
  z.object({
    /** The route's name, or 'global' for governor.budget. */
    scope: z.string(),
    window: z.enum(['hour', 'day', 'month']),
    /** When the window began (UTC, ISO 8601). */
    windowStart: z.string(),
    /** The threshold crossed, e.g. 0.8. */
    fraction: z.number(),
    used: z.number(),
    limit: z.number(),
    unit: z.enum(['tokens', 'usd']),
  }),
  {
    description:
      'a budget crossed one of its thresholds in the current window (once per threshold and window); at 1 the scope pauses',
    example: {
      scope: 'pr-reviewer',
      window: 'day',
      windowStart: '2025-03-14T00:00:00.000Z',
      fraction: 0.8,
      used: 812_000,
      limit: 1_000_000,
      unit: 'tokens',
    },
  },
);

const loopDetected = defineEventType(
  'agentd.loop.detected',
  z.object({
    route: z.string(),
    eventId: z.string(),
    correlationId: z.string(),
    depth: z.number(),
    /** Starts with `loop-guard:`, as the dead letter's reason. */
    reason: z.string(),
  }),
  {
    description: "the loop guard stopped a chain: the event's delivery was dead-lettered",
    example: {
      route: 'pr-reviewer',
      eventId: '0f1c5c1e-7d0a-4a53-9b8e-2f6c0c8d1a11',
      correlationId: '5b7e0c52-6a8e-4f0e-9d55-3f1e2b7a9c01',
      depth: 4,
      reason:
        'loop-guard: route pr-reviewer re-triggered 4 times by its own chain, above governor.loop.maxCycles 3',
    },
  },
);

const circuit = {
  kind: z.enum(['provider', 'sink']),
  /** The provider's or the sink's name. */
  name: z.string(),
  /** Failures in a row that opened the circuit. */
  failures: z.number(),
  coolDownMs: z.number(),
  lastError: z.string().optional(),
};
const exampleCircuit = {
  kind: 'provider' as const,
  name: 'anthropic',
  failures: 5,
  coolDownMs: 30_000,
  lastError: 'provider answered 529',
};

const circuitOpened = defineEventType('agentd.circuit.opened', z.object(circuit), {
  description: 'calls to a failing provider or outbox sink pause for a cool-down',
  example: exampleCircuit,
});

const circuitClosed = defineEventType('agentd.circuit.closed', z.object(circuit), {
  description: 'a provider or outbox sink answers again: calls resume',
  example: exampleCircuit,
});

const routePause = {
  route: z.string(),
  /** 'operator': agentd pause/resume; 'budget': the route's or the global budget. */
  cause: z.enum(['operator', 'budget']),
  reason: z.string(),
};

const routePaused = defineEventType('agentd.route.paused', z.object(routePause), {
  description:
    "a route stopped taking deliveries (they stay queued): an operator's pause or a spent budget",
  example: {
    route: 'pr-reviewer',
    cause: 'budget' as const,
    reason: 'budget of route pr-reviewer spent: 1000000 of 1000000 tokens this day',
  },
});

const routeResumed = defineEventType('agentd.route.resumed', z.object(routePause), {
  description: 'a paused route takes deliveries again',
  example: { route: 'pr-reviewer', cause: 'operator' as const, reason: 'agentd resume' },
});

export const internalEventTypes = {
  agentdDaemonStarted: daemonStarted,
  agentdRunCompleted: runCompleted,
  agentdRunFailed: runFailed,
  agentdRunCancelled: runCancelled,
  agentdDlqAdded: dlqAdded,
  agentdBudgetThreshold: budgetThreshold,
  agentdLoopDetected: loopDetected,
  agentdCircuitOpened: circuitOpened,
  agentdCircuitClosed: circuitClosed,
  agentdRoutePaused: routePaused,
  agentdRouteResumed: routeResumed,
};

export const internalFamilies: TypeFamily[] = Object.values(internalEventTypes).map((type) => ({
  title: type.name,
  summary: type.description ?? '',
  types: [type],
}));
