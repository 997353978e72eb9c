// Contracts of agentd's internal events: the daemon starting, runs finishing, dead letters. They
// are what routes reacting to agentd itself read, so they are versioned like any other type.
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

export const internalEventTypes = {
  agentdDaemonStarted: daemonStarted,
  agentdRunCompleted: runCompleted,
  agentdRunFailed: runFailed,
  agentdDlqAdded: dlqAdded,
};

export const internalFamilies: TypeFamily[] = Object.values(internalEventTypes).map((type) => ({
  title: type.name,
  summary: type.description ?? '',
  types: [type],
}));
