// The worker and run context: steps, emits, retries steered by errors, filters, timeouts, drain.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteInspector } from '../../src/bus/sqlite/inspect-sql.js';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { validateConfig, type AgentdConfig } from '../../src/core/config.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import { NonRetryableError, RetryAfterError } from '../../src/core/errors.js';
import { on } from '../../src/core/route.js';
import { createLogger } from '../../src/observe/log.js';
import type { GovernorSettings } from '../../src/governor/governor.js';
import { createWorker, type Worker } from '../../src/runtime/worker.js';
import { CircuitOpenError } from '../../src/governor/circuit-breaker.js';

const log = createLogger({ level: 'silent' });
const fast = { maxAttempts: 3, initialMs: 10, maxMs: 20 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Harness {
  bus: SqliteBus;
  worker: Worker;
  path: string;
  publish(type: string, extra?: Record<string, unknown>): Promise<AgentdEvent>;
  runs(route: string): ReturnType<SqliteInspector['runs']>;
}

const open: { dir: string; bus: SqliteBus; worker: Worker }[] = [];

async function harness(
  routes: NonNullable<AgentdConfig['routes']>,
  opts: {
    concurrency?: number;
    shutdownGraceMs?: number;
    governor?: GovernorSettings;
    dir?: string;
  } = {},
): Promise<Harness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'agentd-worker-'));
  const path = join(dir, 'agentd.db');
  const bus = new SqliteBus({ path, source: 'agentd://test' });
  const config = validateConfig({ routes }, 'test');
  const worker = createWorker({
    bus,
    routes: config.routes,
    log,
    source: 'agentd://test',
    ...opts,
  });
  await worker.start();
  open.push({ dir, bus, worker });
  return {
    bus,
    worker,
    path,
    async publish(type, extra = {}) {
      const event = toEvent({ type, ...extra }, { source: 'test', trust: 'operator' });
      await bus.publish([event]);
      return event;
    },
    runs: (route) => new SqliteInspector(bus.db).runs({ route, limit: 1_000 }),
  };
}

async function waitFor(check: () => boolean, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(10);
  }
}

afterEach(async () => {
  for (const { dir, bus, worker } of open.splice(0)) {
    await worker.stop();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('worker', () => {
  it('runs a handler and publishes its emits with causation, correlation and depth', async () => {
    const seen: AgentdEvent[] = [];
    const h = await harness([
      on('order.placed', {
        handler: (_e, ctx) => void ctx.emit({ type: 'order.confirm', data: { ok: true } }),
      }),
      on('order.confirm', { handler: (e) => void seen.push(e) }),
    ]);
    const root = await h.publish('order.placed');
    await waitFor(() => seen.length === 1);
    expect(seen[0]).toMatchObject({
      causationid: root.id,
      correlationid: root.id,
      depth: 1,
      data: { ok: true },
      source: 'agentd://test',
    });
    await waitFor(() => h.runs('order.placed')[0]?.status === 'completed');
  });

  it('resumes after the last finished step instead of re-running it', async () => {
    let stepRuns = 0;
    const values: number[] = [];
    const h = await harness([
      on('job.x', {
        retries: fast,
        handler: async (_e, ctx) => {
          const v = await ctx.step('draw', () => {
            stepRuns++;
            return Math.random();
          });
          const again = await ctx.step('draw', () => -1);
          values.push(v);
          expect(again).toBe(-1);
          if (ctx.run.attempt < 3) throw new Error('fail after the step');
        },
      }),
    ]);
    await h.publish('job.x');
    await waitFor(() => h.runs('job.x')[0]?.status === 'completed');
    expect(stepRuns).toBe(1);
    expect(new Set(values).size).toBe(1);
    expect(values).toHaveLength(3);
  });

  it('discards the emits of a failed attempt', async () => {
    const seen: unknown[] = [];
    const h = await harness([
      on('a.go', {
        retries: fast,
        handler: (_e, ctx) => {
          ctx.emit({ type: 'a.out', data: ctx.run.attempt });
          if (ctx.run.attempt === 1) throw new Error('first attempt fails');
        },
      }),
      on('a.out', { handler: (e) => void seen.push(e.data) }),
    ]);
    await h.publish('a.go');
    await waitFor(() => seen.length === 1);
    await sleep(100);
    expect(seen).toEqual([2]);
  });

  it('dead-letters a NonRetryableError after one attempt', async () => {
    const h = await harness([
      on('bad.x', {
        retries: fast,
        handler: () => {
          throw new NonRetryableError('cannot ever work');
        },
      }),
    ]);
    await h.publish('bad.x');
    await waitFor(() => h.runs('bad.x')[0]?.status === 'dead');
    const [dead] = await h.bus.dlq.list();
    expect(dead?.attempts).toBe(1);
    expect(dead?.reason).toMatch(/cannot ever work/);
  });

  it('retries after the delay a RetryAfterError asks for', async () => {
    const times: number[] = [];
    const h = await harness([
      on('later.x', {
        retries: fast,
        handler: (_e, ctx) => {
          times.push(Date.now());
          if (ctx.run.attempt === 1) throw new RetryAfterError('rate limited', 400);
        },
      }),
    ]);
    await h.publish('later.x');
    await waitFor(() => times.length === 2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(390);
  });

  it('waits out an open circuit without spending an attempt, even past maxAttempts', async () => {
    const attempts: number[] = [];
    const h = await harness([
      on('circuit.x', {
        retries: { maxAttempts: 1 },
        handler: (_e, ctx) => {
          attempts.push(ctx.run.attempt);
          // An agent's provider call wraps the breaker's refusal as its cause.
          if (attempts.length < 3)
            throw new Error('model call failed', {
              cause: new CircuitOpenError('provider', 'anthropic', 50),
            });
        },
      }),
    ]);
    await h.publish('circuit.x');
    await waitFor(() => h.runs('circuit.x')[0]?.status === 'completed');
    expect(attempts).toEqual([1, 1, 1]);
    expect(await h.bus.dlq.list()).toEqual([]);
  });

  it('dead-letters with every error after maxAttempts', async () => {
    const h = await harness([
      on('boom.x', {
        retries: fast,
        handler: (_e, ctx) => {
          throw new Error(`boom ${ctx.run.attempt}`);
        },
      }),
    ]);
    await h.publish('boom.x');
    await waitFor(() => h.runs('boom.x')[0]?.status === 'dead');
    const [dead] = await h.bus.dlq.list();
    expect(dead?.errors.map((e) => e.error)).toEqual([
      'Error: boom 1',
      'Error: boom 2',
      'Error: boom 3',
    ]);
  });

  it('aborts a handler at its timeout and retries it', async () => {
    let aborted = 0;
    const h = await harness([
      on('slow.x', {
        retries: fast,
        timeoutMs: 100,
        handler: async (_e, ctx) => {
          if (ctx.run.attempt > 1) return;
          ctx.signal.addEventListener('abort', () => aborted++);
          await sleep(2_000);
        },
      }),
    ]);
    await h.publish('slow.x');
    await waitFor(() => h.runs('slow.x')[0]?.status === 'completed');
    expect(aborted).toBe(1);
    expect(h.runs('slow.x')[0]?.errors[0]?.error).toMatch(/timed out after 100 ms/);
  });

  it('skips events the filter declines and dead-letters when the filter throws', async () => {
    let ran = 0;
    const h = await harness([
      on('f.x', {
        filter: (e) => {
          if (e.data === 'throw') throw new Error('filter bug');
          return e.data === 'yes';
        },
        handler: () => void ran++,
      }),
    ]);
    await h.publish('f.x', { data: 'no' });
    await h.publish('f.x', { data: 'yes' });
    await h.publish('f.x', { data: 'throw' });
    await waitFor(
      () =>
        h.runs('f.x').every((r) => ['skipped', 'completed', 'dead'].includes(r.status)) &&
        h.runs('f.x').length === 3,
    );
    expect(
      h
        .runs('f.x')
        .map((r) => r.status)
        .sort(),
    ).toEqual(['completed', 'dead', 'skipped']);
    expect(ran).toBe(1);
  });

  it('publishes agentd.run.completed and agentd.run.failed to routes that listen', async () => {
    const seen: AgentdEvent[] = [];
    const h = await harness([
      on('w.x', {
        retries: { ...fast, maxAttempts: 2 },
        handler: (e) => {
          if (e.data === 'fail') throw new Error('nope');
        },
      }),
      on('agentd.run.*', { handler: (e) => void seen.push(e) }),
    ]);
    const ok = await h.publish('w.x', { data: 'ok' });
    await h.publish('w.x', { data: 'fail' });
    await waitFor(() => seen.length === 3);
    await sleep(100);
    expect(seen).toHaveLength(3);
    const completed = seen.find((e) => e.type === 'agentd.run.completed');
    expect(completed).toMatchObject({
      causationid: ok.id,
      data: { route: 'w.x', eventId: ok.id, attempt: 1 },
    });
    const failed = seen
      .filter((e) => e.type === 'agentd.run.failed')
      .map((e) => (e.data as { willRetry: boolean }).willRetry);
    expect(failed.sort()).toEqual([false, true]);
  });

  it('dead-letters an event past governor.loop.maxDepth with a loop-guard reason', async () => {
    let runs = 0;
    const h = await harness(
      [
        on('loop.x', {
          handler: (_e, ctx) => {
            runs++;
            ctx.emit({ type: 'loop.x' });
          },
        }),
      ],
      { governor: { loop: { maxDepth: 3 } } },
    );
    await h.publish('loop.x');
    await waitFor(() => h.runs('loop.x').some((r) => r.status === 'dead'));
    expect(runs).toBe(4);
    expect((await h.bus.dlq.list())[0]?.reason).toBe(
      'loop-guard: loop.x is at depth 4, above governor.loop.maxDepth 3',
    );
  });

  it('keeps one route flowing while another is stuck', async () => {
    let fastRuns = 0;
    const h = await harness(
      [
        on('both.x', { name: 'stuck', concurrency: 1, handler: () => sleep(3_000) }),
        on('both.x', { name: 'quick', handler: () => void fastRuns++ }),
      ],
      { shutdownGraceMs: 50 },
    );
    for (let i = 0; i < 20; i++) await h.publish('both.x');
    await waitFor(() => fastRuns === 20, 2_000);
  });

  it('never runs more than the global concurrency at once', async () => {
    let running = 0;
    let peak = 0;
    const handler = async () => {
      running++;
      peak = Math.max(peak, running);
      await sleep(20);
      running--;
    };
    const h = await harness(
      [on('c.a', { concurrency: 10, handler }), on('c.b', { concurrency: 10, handler })],
      { concurrency: 4 },
    );
    for (let i = 0; i < 20; i++) {
      await h.publish('c.a');
      await h.publish('c.b');
    }
    await waitFor(
      () =>
        h
          .runs('c.a')
          .concat(h.runs('c.b'))
          .filter((r) => r.status === 'completed').length === 40,
      10_000,
    );
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(1);
  });

  it('lets in-flight runs finish on stop, and gives back runs that outlive the grace period', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-worker-'));
    let finished = 0;
    const routes = [
      on('drain.quick', {
        handler: async () => {
          await sleep(150);
          finished++;
        },
      }),
      on('drain.slow', {
        handler: (_e, ctx) =>
          new Promise((resolve) => ctx.signal.addEventListener('abort', resolve)),
      }),
    ];
    const h = await harness(routes, { dir, shutdownGraceMs: 400 });
    await h.publish('drain.quick');
    await h.publish('drain.slow');
    await waitFor(
      () =>
        h.runs('drain.slow')[0]?.status === 'running' &&
        h.runs('drain.quick')[0]?.status === 'running',
    );
    await h.worker.stop();
    expect(finished).toBe(1);
    expect(h.runs('drain.quick')[0]?.status).toBe('completed');
    const slow = h.runs('drain.slow')[0];
    expect(slow?.status).toBe('queued');
    expect(slow?.attempt).toBe(0);
  });
});
