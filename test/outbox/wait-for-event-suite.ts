// ctx.waitForEvent as one suite: every bus runs these same scenarios through its in-process daemon.
// A parked run holds no worker slot but keeps its key, survives a restart, and resumes (once) when
// a matching event is published or fails cleanly when its deadline passes.
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus } from '../../src/bus/bus.js';
import type { AgentdConfig } from '../../src/core/config.js';
import { EventWaitTimeoutError } from '../../src/core/errors.js';
import { on } from '../../src/core/route.js';
import type { WiredAgentd } from './wired-agentd.js';

export interface WaitingAgentd extends WiredAgentd<Bus & { waitsFor(type: string): boolean }> {
  /** Stops, then starts again on the same store with the same config: a restart. */
  restart(): Promise<WaitingAgentd>;
}

export interface WaitingAgentdFactory {
  name: string;
  start: (config: AgentdConfig) => Promise<WaitingAgentd>;
  /** Stops every daemon start() gave and drops its store (afterEach). */
  stopAll: () => Promise<void>;
  /** Repeats `check` until it holds, with the patience this bus needs. */
  until: (check: () => boolean | Promise<boolean>, what: string) => Promise<void>;
}

interface Request {
  id: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function waitForEventSuite(factory: WaitingAgentdFactory): void {
  const { start, until } = factory;

  describe(`ctx.waitForEvent on a ${factory.name}`, () => {
    afterEach(async () => {
      await factory.stopAll();
    });

    /** A route that asks, waits for the matching approval, then records what it got. */
    function approvals(log: string[], starts: Map<number, number>): AgentdConfig {
      return {
        routes: [
          on<Request>('deploy.requested', {
            name: 'deploy',
            concurrency: 1,
            handler: async (event, ctx) => {
              const id = event.data!.id;
              starts.set(id, (starts.get(id) ?? 0) + 1);
              const approved = await ctx.waitForEvent<{ by: string }>('deploy.approved', {
                match: { data: { id } },
              });
              log.push(`${id} approved by ${approved.data?.by ?? '?'}`);
            },
          }),
        ],
      };
    }

    it('parks without a worker slot, survives a restart and resumes on the matching event', async () => {
      const log: string[] = [];
      const starts = new Map<number, number>();
      let agentd = await start(approvals(log, starts));
      await agentd.publish('deploy.requested', { data: { id: 1 } });
      // With concurrency 1, the second run only starts because the first one holds no slot.
      await agentd.publish('deploy.requested', { data: { id: 2 } });
      await until(() => starts.get(2) === 1, 'the second run to start');
      await until(
        async () => (await agentd.bus.backlogs()).get('deploy') === 2,
        'two parked runs in the backlog',
      );

      agentd = await agentd.restart();
      await agentd.publish('deploy.approved', { data: { id: 2, by: 'ann' } });
      await until(() => log.length === 1, 'the second run to resume');
      expect(log).toEqual(['2 approved by ann']);
      await agentd.publish('deploy.approved', { data: { id: 1, by: 'bob' } });
      await until(() => log.length === 2, 'the first run to resume');
      expect(log).toEqual(['2 approved by ann', '1 approved by bob']);
      // Each ran once to its wait and once more to resume.
      expect([...starts.values()]).toEqual([2, 2]);
      await until(
        async () => (await agentd.bus.backlogs()).get('deploy') === 0,
        'an empty backlog',
      );
    });

    it("keeps its key while parked: the key's next event waits for it", async () => {
      const log: string[] = [];
      const agentd = await start({
        routes: [
          on<string>('step.run', {
            name: 'steps',
            handler: async (event, ctx) => {
              log.push(`start ${event.data!}`);
              if (event.data === 'first') await ctx.waitForEvent('step.go');
              log.push(`end ${event.data!}`);
            },
          }),
        ],
      });
      await agentd.publish('step.run', { data: 'first', partitionkey: 'k' });
      await agentd.publish('step.run', { data: 'second', partitionkey: 'k' });
      await agentd.publish('step.run', { data: 'other', partitionkey: 'j' });
      await until(() => log.includes('end other'), 'the other key to run');
      expect(log.filter((l) => l.endsWith('second'))).toEqual([]);
      await agentd.publish('step.go');
      await until(() => log.includes('end second'), 'the key to move on');
      const order = log.filter((l) => !l.endsWith('other'));
      expect(order).toEqual([
        'start first',
        'start first',
        'end first',
        'start second',
        'end second',
      ]);
    });

    it('sees a matching event published while the handler still ran, before it parked', async () => {
      const got: unknown[] = [];
      const agentd = await start({
        routes: [
          on<string>('job.started', {
            handler: async (event, ctx) => {
              await ctx.step('kick', async () => {
                await agentd.publish('job.done', { data: { job: event.data } });
              });
              const done = await ctx.waitForEvent('job.done', {
                match: { data: { job: event.data } },
              });
              got.push(done.data);
            },
          }),
        ],
      });
      await agentd.publish('job.started', { data: 'j1' });
      await until(() => got.length === 1, 'the resumed run');
      expect(got).toEqual([{ job: 'j1' }]);
    });

    it('fails the run cleanly when its time runs out, across a restart too', async () => {
      const agentd = await start({
        routes: [
          on('deploy.requested', {
            name: 'strict',
            handler: async (_e, ctx) => {
              await ctx.waitForEvent('deploy.approved', { timeoutMs: 1_000 });
            },
          }),
        ],
      });
      await agentd.publish('deploy.requested');
      await until(() => agentd.bus.waitsFor('deploy.approved'), 'the parked run');
      const restarted = await agentd.restart();
      await until(async () => (await restarted.bus.dlq.list()).length === 1, 'the dead letter');
      const [dead] = await restarted.bus.dlq.list();
      expect(dead?.reason).toMatch(
        /EventWaitTimeoutError: no deploy.approved event matched within 1000 ms/,
      );
      expect(dead?.attempts).toBe(1);
    });

    it('lets a handler catch the timeout and carry on', async () => {
      const outcomes: string[] = [];
      const agentd = await start({
        routes: [
          on('deploy.requested', {
            handler: async (_e, ctx) => {
              try {
                await ctx.waitForEvent('deploy.approved', { timeoutMs: 200 });
                outcomes.push('approved');
              } catch (error) {
                outcomes.push(error instanceof EventWaitTimeoutError ? 'timed out' : 'other');
              }
            },
          }),
        ],
      });
      await agentd.publish('deploy.requested');
      await until(() => outcomes.length === 1, 'the outcome');
      expect(outcomes).toEqual(['timed out']);
    });

    it('refuses a pattern with an undefined field, which would match anything', async () => {
      const agentd = await start({
        routes: [
          on('order.placed', {
            handler: async (_e, ctx) => {
              await ctx.waitForEvent('order.paid', { match: { data: { order: undefined } } });
            },
          }),
        ],
      });
      await agentd.publish('order.placed');
      await until(async () => (await agentd.bus.dlq.list()).length === 1, 'the dead letter');
      expect((await agentd.bus.dlq.list())[0]?.reason).toMatch(/match\.data\.order is undefined/);
    });

    it('ignores events that do not match the pattern', async () => {
      const got: unknown[] = [];
      const agentd = await start({
        routes: [
          on('order.placed', {
            handler: async (_e, ctx) => {
              const paid = await ctx.waitForEvent('order.paid', { match: { data: { order: 7 } } });
              got.push(paid.data);
            },
          }),
        ],
      });
      await agentd.publish('order.placed');
      await sleep(200);
      await agentd.publish('order.paid', { data: { order: 8 } });
      await sleep(300);
      expect(got).toEqual([]);
      await agentd.publish('order.paid', { data: { order: 7, amount: 10 } });
      await until(() => got.length === 1, 'the match');
      expect(got).toEqual([{ order: 7, amount: 10 }]);
    });
  });
}
