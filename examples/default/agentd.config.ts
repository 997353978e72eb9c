// The config `npm start` runs: a small chain that shows events flowing through routes, a retry,
// and a failure landing in the dead-letter queue. Its store lives in ./.agentd.
import { defineConfig, NonRetryableError, on } from 'agentd';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface Hello {
  name?: string;
}

interface Order {
  item?: unknown;
}

const CATALOG = join(import.meta.dirname, 'catalog.json');

export default defineConfig({
  dataDir: '../../.agentd',
  routes: [
    // Every start publishes agentd.daemon.started; greet once so something flows at once.
    on('agentd.daemon.started', {
      name: 'welcome',
      handler: (_event, ctx) => {
        ctx.log.info('daemon started: sending demo.hello');
        ctx.emit({ type: 'demo.hello', data: { name: 'world' }, partitionkey: 'demo' });
      },
    }),

    // A handler with two durable steps. A crash between them resumes at the second.
    on<Hello>('demo.hello', {
      handler: async (event, ctx) => {
        const greeting = await ctx.step(
          'compose',
          () => `Hello, ${event.data?.name ?? 'stranger'}!`,
        );
        const stamp = await ctx.step('stamp', () => new Date().toISOString());
        ctx.log.info({ greeting, stamp }, greeting);
        ctx.emit({ type: 'demo.greeted', data: { greeting } });
      },
    }),

    on('demo.greeted', {
      handler: (event, ctx) => {
        ctx.log.info({ data: event.data, causedBy: event.causationid }, 'greeting delivered');
      },
    }),

    // Fails until its third attempt: watch it retry with backoff (agentd runs --route demo.flaky).
    on('demo.flaky', {
      retries: { maxAttempts: 5, initialMs: 500 },
      handler: (_event, ctx) => {
        if (ctx.run.attempt < 3) throw new Error(`flaky failure on attempt ${ctx.run.attempt}`);
        ctx.log.info({ attempt: ctx.run.attempt }, 'flaky handler succeeded');
      },
    }),

    // Refuses orders for items missing from catalog.json: such a run goes straight to the
    // dead-letter queue. Add the item to the catalog, then `agentd dlq replay <id>` and it succeeds.
    on<Order>('demo.order', {
      handler: async (event, ctx) => {
        const item = event.data?.item;
        if (typeof item !== 'string') throw new NonRetryableError('data.item must be a string');
        const catalog = JSON.parse(await readFile(CATALOG, 'utf8')) as Record<string, number>;
        const price = catalog[item];
        if (price === undefined) {
          throw new NonRetryableError(`unknown item "${item}": add it to ${CATALOG}, then replay`);
        }
        ctx.log.info({ item, price }, `order accepted: ${item} at ${price}`);
      },
    }),
  ],
});
