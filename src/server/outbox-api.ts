// The outbox under /api/outbox: list and show actions (read token), approve, reject, retry from
// the outbox DLQ and purge (admin token). The dispatcher is woken at once after a change.
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { ACTION_STATES, type OutboxStore } from '../bus/outbox-store.js';
import { actionEvents } from '../outbox/action-events.js';
import { requireScope, type AdminTokens } from './admin-auth.js';

export interface OutboxApiOptions {
  tokens: AdminTokens;
  store: OutboxStore;
  /** The `source` of agentd.action.failed events for rejections. */
  source: string;
  /** Wakes the dispatcher (approved or retried actions are due now). */
  wake(): void;
}

const listQuery = z.strictObject({
  state: z.enum(ACTION_STATES).optional(),
  sink: z.string().min(1).optional(),
  route: z.string().min(1).optional(),
  run: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});

const decision = z.strictObject({
  by: z.string().min(1).max(200).optional(),
  reason: z.string().min(1).max(2_000).optional(),
});

export function createOutboxApi(options: OutboxApiOptions): Hono {
  const api = new Hono();
  const { store } = options;
  const admin = requireScope(options.tokens, 'admin');
  api.use('*', requireScope(options.tokens, 'read'));

  api.get('/', async (c) => {
    const query = listQuery.safeParse(c.req.query());
    if (!query.success) return c.json({ error: 'bad query', issues: query.error.issues }, 400);
    const q = query.data;
    return c.json(
      await store.list({
        limit: q.limit,
        ...(q.state === undefined ? {} : { state: q.state }),
        ...(q.sink === undefined ? {} : { sink: q.sink }),
        ...(q.route === undefined ? {} : { route: q.route }),
        ...(q.run === undefined ? {} : { runId: q.run }),
      }),
    );
  });

  api.get('/:id', async (c) => {
    const found = await store.show(c.req.param('id'));
    return found === undefined ? notFound(c) : c.json(found);
  });

  api.post('/:id/approve', admin, async (c) => {
    const body = await decisionOf(c);
    if (body === undefined) return c.json({ error: 'expected a JSON body { by?, reason? }' }, 400);
    const [approved] = await store.approve([c.req.param('id')], body.by ?? 'api');
    if (approved === undefined) return notPending(c, store);
    options.wake();
    return c.json(approved);
  });

  api.post('/:id/reject', admin, async (c) => {
    const body = await decisionOf(c);
    if (body === undefined) return c.json({ error: 'expected a JSON body { by?, reason? }' }, 400);
    const reason = body.reason ?? 'rejected by an operator';
    const [rejected] = await store.reject([c.req.param('id')], body.by ?? 'api', reason, (action) =>
      actionEvents(store, action, { status: 'rejected', reason }, options.source),
    );
    return rejected === undefined ? notPending(c, store) : c.json(rejected);
  });

  api.post('/:id/retry', admin, async (c) => {
    const retried = await store.retryDead([c.req.param('id')]);
    if (retried === 0) return c.json({ error: `no dead action with id ${c.req.param('id')}` }, 404);
    options.wake();
    return c.json({ retried });
  });

  api.delete('/:id', admin, async (c) => {
    const purged = await store.purge([c.req.param('id')]);
    if (purged === 0) return c.json({ error: `no dead action with id ${c.req.param('id')}` }, 404);
    return c.json({ purged });
  });

  return api;
}

async function decisionOf(c: Context): Promise<z.output<typeof decision> | undefined> {
  const text = await c.req.text();
  if (text.trim() === '') return {};
  try {
    const parsed = decision.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

function notFound(c: Context): Response {
  return c.json({ error: `no action with id ${c.req.param('id')}` }, 404);
}

async function notPending(c: Context, store: OutboxStore): Promise<Response> {
  const found = await store.show(c.req.param('id') ?? '');
  if (found === undefined) return notFound(c);
  return c.json({ error: `action ${found.id} is ${found.state}, not pending-approval` }, 409);
}
