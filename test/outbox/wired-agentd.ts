// What the in-process daemons of the outbox tests (SQLite, harness.ts) and the NATS tests
// (nats-agentd.ts) share: a bus with the worker and the outbox dispatcher wired onto it as the
// daemon wires them (prepareOutbox + dispatcherFor), a publish helper, and a clean stop.
import type { Bus } from '../../src/bus/bus.js';
import type { OutboxStore, StoredAction } from '../../src/bus/outbox-store.js';
import type { ResolvedConfig } from '../../src/core/config.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import type { Logger } from '../../src/observe/log.js';
import type { Dispatcher } from '../../src/outbox/dispatcher.js';
import { dispatcherFor, type OutboxSetup } from '../../src/outbox/outbox-setup.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';

export interface WiredAgentd<B> {
  bus: B;
  worker: Worker;
  dispatcher: Dispatcher;
  publish(type: string, extra?: Record<string, unknown>): Promise<AgentdEvent>;
  actions(): Promise<StoredAction[]>;
  /** Stops worker and dispatcher and closes the bus (a clean stop); once. */
  stop(): Promise<void>;
}

export async function wireAgentd<B extends Bus & { outbox: OutboxStore }>(
  bus: B,
  resolved: ResolvedConfig,
  setup: OutboxSetup,
  options: {
    log: Logger;
    source: string;
    leaseMs?: number | undefined;
    /** Runs after the worker started, before the dispatcher does (e.g. recovering leases). */
    afterWorkerStart?: () => Promise<unknown>;
  },
): Promise<WiredAgentd<B>> {
  const { log, source } = options;
  const worker = createWorker({
    bus,
    routes: resolved.routes,
    log,
    source,
    outbox: setup.policy,
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
  });
  await worker.start();
  await options.afterWorkerStart?.();
  const dispatcher = dispatcherFor(setup, bus.outbox, bus, { log, source });
  await dispatcher.start();
  let stopped = false;
  return {
    bus,
    worker,
    dispatcher,
    async publish(type, extra = {}) {
      const event = toEvent({ type, ...extra }, { source: 'test', trust: 'operator' });
      await bus.publish([event]);
      return event;
    },
    actions: () => bus.outbox.list({ limit: 10_000 }),
    async stop() {
      if (stopped) return;
      stopped = true;
      await worker.stop();
      await dispatcher.stop();
      await bus.close();
    },
  };
}
