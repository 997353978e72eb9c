// A HandlerContext kept in memory for agent tests: steps memoized the way RunContext does (JSON
// round trip, repeated names numbered), emits derived from the event, logs captured as JSON lines.
import { Writable } from 'node:stream';
import {
  deriveEvent,
  toEvent,
  type AgentdEvent,
  type EventInput,
} from '../../src/core/envelope.js';
import type { HandlerContext } from '../../src/core/route.js';
import { createLogger } from '../../src/observe/log.js';
import { ActionRecorder, BUS_ONLY_POLICY } from '../../src/outbox/action-recorder.js';

export interface MemoryAttempt {
  ctx: HandlerContext;
  emitted: AgentdEvent[];
}

export interface MemoryRun {
  /** Survive across attempts, like the store's steps table. */
  steps: Map<string, unknown>;
  /** Names of steps whose function actually ran, in order, across attempts. */
  executed: string[];
  logs: string[];
  attempt(options?: { signal?: AbortSignal }): MemoryAttempt;
}

export function externalEvent(type: string, data: unknown): AgentdEvent {
  return toEvent(
    { type, data, source: 'https://github.com/acme/widgets' },
    {
      source: 'test',
      trust: 'external',
    },
  );
}

export function operatorEvent(type: string, data: unknown): AgentdEvent {
  return toEvent({ type, data }, { source: 'test', trust: 'operator' });
}

export function memoryRun(event: AgentdEvent): MemoryRun {
  const steps = new Map<string, unknown>();
  const executed: string[] = [];
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logs.push(chunk.toString('utf8'));
      done();
    },
  });
  const log = createLogger({ level: 'debug', pretty: false, destination });
  let attempts = 0;
  return {
    steps,
    executed,
    logs,
    attempt(options = {}) {
      attempts++;
      const counts = new Map<string, number>();
      const emitted: AgentdEvent[] = [];
      const signal = options.signal ?? new AbortController().signal;
      const recorder = new ActionRecorder({
        event,
        route: 'test',
        runId: `run-${event.id}`,
        source: 'agentd://test',
        policy: BUS_ONLY_POLICY,
        assertLive: () => undefined,
      });
      const ctx: HandlerContext = {
        run: { id: `run-${event.id}`, route: 'test', attempt: attempts, maxAttempts: 5 },
        signal,
        log: log.child({ eventId: event.id, route: 'test' }),
        async step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
          const n = (counts.get(name) ?? 0) + 1;
          counts.set(name, n);
          const key = n === 1 ? name : `${name}#${n}`;
          if (steps.has(key)) return steps.get(key) as T;
          signal.throwIfAborted();
          const value = await fn();
          executed.push(key);
          const stored = JSON.parse(JSON.stringify(value) ?? 'null') as T;
          steps.set(key, stored);
          return stored;
        },
        emit(events: EventInput | readonly EventInput[]) {
          const list: readonly EventInput[] = Array.isArray(events)
            ? events
            : [events as EventInput];
          const derived = list.map((input) => deriveEvent(event, input, 'agentd://test'));
          emitted.push(...derived);
          return derived;
        },
        outbox: recorder.outbox,
        waitForEvent: () =>
          Promise.reject(new Error('waitForEvent needs a bus (not in memory runs)')),
      };
      return { ctx, emitted };
    },
  };
}
