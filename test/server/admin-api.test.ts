// The admin API: tokens and scopes (401, 403), filter validation (400 with a message), keyset
// paging, runs with steps, lineage, DLQ replay (one and by filter) and purge, and the live stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../src/core/errors.js';
import { on } from '../../src/core/route.js';
import type { DeadLetterSummary, EventSummary, Page } from '../../src/server/admin-types.js';
import {
  api,
  eventually,
  postEvents,
  startTestDaemon,
  type TestDaemon,
} from '../observe/observe-harness.js';

const READ = 'read-only-token-0123456789';
let d: TestDaemon;
let allowFlaky = false;

// The answers' types are the ones the dashboard reads, from the one module both ends import.
type EventItem = EventSummary;
type DeadItem = DeadLetterSummary;

beforeAll(async () => {
  d = await startTestDaemon({
    server: { readOnlyToken: READ },
    routes: [
      on('x.ok', {
        name: 'ok',
        handler: async (event, ctx) => {
          await ctx.step('double', () => 2 * Number((event.data as { n?: number })?.n ?? 0));
          if ((event.data as { emit?: boolean } | undefined)?.emit === true)
            ctx.emit({ type: 'x.child', data: { n: 1 } });
        },
      }),
      on('x.child', { name: 'child', handler: () => undefined }),
      on('x.flaky', {
        name: 'flaky',
        handler: async (_event, ctx) => {
          await ctx.step('before', () => 'kept');
          if (!allowFlaky) throw new NonRetryableError('not allowed yet');
        },
      }),
    ],
  });
  const events = Array.from({ length: 120 }, (_, n) => ({
    type: 'x.ok',
    id: `ok-${n}`,
    partitionkey: n % 2 === 0 ? 'even' : 'odd',
    data: { n },
  }));
  await postEvents(d, events);
  await postEvents(d, [
    { type: 'x.flaky', id: 'flaky-1' },
    { type: 'x.flaky', id: 'flaky-2' },
    { type: 'x.flaky', id: 'flaky-3' },
    { type: 'x.ok', id: 'parent', data: { n: 7, emit: true } },
  ]);
  await eventually(async () => {
    const dead = await api<Page<DeadItem>>(d, '/api/dlq', d.token);
    const runs = await api<Page<unknown>>(d, '/api/runs?status=completed&limit=500', d.token);
    return dead.body.items.length === 3 && runs.body.items.length === 122;
  });
});

afterAll(async () => {
  await d.stop();
});

describe('admin API auth', () => {
  it('answers 401 without a token or with a wrong one', async () => {
    expect((await api(d, '/api/events', undefined)).status).toBe(401);
    expect((await api(d, '/api/events', 'not-the-token-at-all')).status).toBe(401);
    expect(
      (await api(d, '/api/dlq/1/replay', undefined, { method: 'POST', body: '{}' })).status,
    ).toBe(401);
  });

  it('lets the read-only token read but not replay or purge (403)', async () => {
    expect((await api(d, '/api/events', READ)).status).toBe(200);
    expect((await api<{ scope: string }>(d, '/api/whoami', READ)).body.scope).toBe('read');
    const dead = await api<Page<DeadItem>>(d, '/api/dlq', READ);
    const id = dead.body.items[0]?.deliveryId ?? '0';
    const replay = await api<{ error: string }>(d, `/api/dlq/${id}/replay`, READ, {
      method: 'POST',
      body: '{}',
    });
    expect(replay.status).toBe(403);
    expect(replay.body.error).toMatch(/read-only/);
    expect(
      (await api(d, '/api/dlq/replay', READ, { method: 'POST', body: '{"all":true}' })).status,
    ).toBe(403);
    expect((await api(d, `/api/dlq/${id}`, READ, { method: 'DELETE' })).status).toBe(403);
    expect(
      (await api(d, '/api/dlq/purge', READ, { method: 'POST', body: '{"all":true}' })).status,
    ).toBe(403);
  });
});

describe('filters', () => {
  const bad = async (path: string, mention: RegExp) => {
    const response = await api<{ error: string }>(d, path, d.token);
    expect(response.status, path).toBe(400);
    expect(response.body.error, path).toMatch(mention);
  };

  it('refuse bad values with 400 and a message naming the parameter', async () => {
    await bad('/api/events?limit=0', /limit: expected at least 1/);
    await bad('/api/events?limit=many', /limit: expected a whole number/);
    await bad('/api/events?status=lost', /status: expected one of queued/);
    await bad('/api/events?cursor=abc', /cursor: expected a cursor/);
    await bad('/api/events?since=yesterday', /since: expected an ISO 8601 time/);
    await bad('/api/events?type=a..b', /type: .*segment/);
    await bad('/api/events?colour=red', /colour/);
    await bad('/api/runs?status=nope', /status/);
    await bad('/api/dlq?limit=9999', /limit: expected at most 500/);
    await bad('/api/events?key=', /key: /);
    await bad('/api/events?until=soon', /until: expected an ISO 8601 time/);
    await bad('/api/events?type=a.*b', /type: .*segment/);
    await bad('/api/runs?cursor=-1', /cursor: expected a cursor/);
  });

  it('refuse a bulk DLQ action that names neither ids, a filter nor all', async () => {
    const response = await api<{ error: string }>(d, '/api/dlq/replay', d.token, {
      method: 'POST',
      body: '{}',
    });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(/expected ids, a filter \(route, type\), or all: true/);
  });
});

describe('events', () => {
  it('page newest first with a cursor, every event once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response: { status: number; body: Page<EventItem> } = await api<Page<EventItem>>(
        d,
        `/api/events?type=x.ok&limit=50${cursor === null ? '' : `&cursor=${cursor}`}`,
        d.token,
      );
      expect(response.status).toBe(200);
      seen.push(...response.body.items.map((e) => e.event.id));
      cursor = response.body.nextCursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(seen).toHaveLength(121);
    expect(new Set(seen).size).toBe(121);
    expect(seen[0]).toBe('parent');
    expect(seen.at(-1)).toBe('ok-0');
  });

  it('filter by key, type pattern, status and search text', async () => {
    const even = await api<Page<EventItem>>(d, '/api/events?key=even&limit=500', d.token);
    expect(even.body.items).toHaveLength(60);
    expect(even.body.items.every((e) => e.event.partitionkey === 'even')).toBe(true);
    const pattern = await api<Page<EventItem>>(d, '/api/events?type=x.*&status=dead', d.token);
    expect(pattern.body.items.map((e) => e.event.id).sort()).toEqual([
      'flaky-1',
      'flaky-2',
      'flaky-3',
    ]);
    const q = await api<Page<EventItem>>(d, '/api/events?q=flaky-2', d.token);
    expect(q.body.items.map((e) => e.event.id)).toEqual(['flaky-2']);
    expect(q.body.items[0]?.runs[0]).toMatchObject({ route: 'flaky', status: 'dead' });
  });

  it('page through combined filters with cursors, every match once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const response: { status: number; body: Page<EventItem> } = await api<Page<EventItem>>(
        d,
        `/api/events?type=x.*&key=odd&status=completed&limit=7${cursor === null ? '' : `&cursor=${cursor}`}`,
        d.token,
      );
      expect(response.status).toBe(200);
      seen.push(...response.body.items.map((e) => e.event.id));
      cursor = response.body.nextCursor;
    } while (cursor !== null);
    expect(seen).toHaveLength(60);
    expect(new Set(seen).size).toBe(60);
    expect(seen.every((id) => Number(id.slice(3)) % 2 === 1)).toBe(true);
    const byKey = await api<Page<EventItem>>(d, '/api/events?q=even&limit=500', d.token);
    expect(byKey.body.items).toHaveLength(60);
    const byType = await api<Page<EventItem>>(d, '/api/events?q=x.flaky', d.token);
    expect(byType.body.items.map((e) => e.event.id)).toEqual(['flaky-3', 'flaky-2', 'flaky-1']);
    const future = await api<Page<EventItem>>(d, '/api/events?since=2999-01-01T00:00:00Z', d.token);
    expect(future.body).toEqual({ items: [], nextCursor: null });
  });

  it('leave data out of pages and give it on the event itself', async () => {
    const page = await api<Page<EventItem>>(d, '/api/events?q=ok-5', d.token);
    expect(page.body.items[0]?.event.data).toBeUndefined();
    const one = await api<EventItem>(d, '/api/events/ok-5', d.token);
    expect(one.body.event.data).toEqual({ n: 5 });
    expect((await api(d, '/api/events/missing', d.token)).status).toBe(404);
  });

  it('give the lineage tree of an event: runs, steps, emitted events', async () => {
    const tree = await api<{
      root: {
        id: string;
        runs: {
          route: string;
          status: string;
          steps: { name: string }[];
          emitted: { type: string; runs: { route: string }[] }[];
        }[];
      };
    }>(d, '/api/events/parent/lineage', d.token);
    expect(tree.status).toBe(200);
    const run = tree.body.root.runs[0];
    expect(run).toMatchObject({ route: 'ok', status: 'completed' });
    expect(run?.steps.map((s) => s.name)).toEqual(['double']);
    expect(run?.emitted[0]?.type).toBe('x.child');
    expect(run?.emitted[0]?.runs[0]?.route).toBe('child');
  });
});

describe('runs', () => {
  it('page with a cursor and filter by route and status', async () => {
    const first = await api<Page<{ runId: string; route: string }>>(
      d,
      '/api/runs?route=ok&limit=100',
      d.token,
    );
    expect(first.body.items).toHaveLength(100);
    const second = await api<Page<{ runId: string }>>(
      d,
      `/api/runs?route=ok&limit=100&cursor=${first.body.nextCursor}`,
      d.token,
    );
    expect(second.body.items).toHaveLength(21);
    expect(second.body.nextCursor).toBeNull();
  });

  it('show one run with its steps, event and errors', async () => {
    const dead = await api<Page<{ runId: string }>>(
      d,
      '/api/runs?route=flaky&status=dead&limit=1',
      d.token,
    );
    const runId = dead.body.items[0]?.runId;
    const run = await api<{
      status: string;
      steps: { name: string; value: unknown }[];
      errors: { error: string }[];
      deadReason: string;
      event: { type: string };
    }>(d, `/api/runs/${runId}`, d.token);
    expect(run.body.status).toBe('dead');
    expect(run.body.steps).toEqual([expect.objectContaining({ name: 'before', value: 'kept' })]);
    expect(run.body.errors[0]?.error).toMatch(/not allowed yet/);
    expect(run.body.event.type).toBe('x.flaky');
    expect((await api(d, '/api/runs/999999', d.token)).status).toBe(404);
  });
});

describe('the dead-letter queue', () => {
  it('replays one dead letter, which then succeeds', async () => {
    allowFlaky = true;
    const dead = await api<Page<DeadItem>>(d, '/api/dlq?route=flaky', d.token);
    const target = dead.body.items.find((item) => item.eventId === 'flaky-1');
    const replay = await api<{ replayed: number }>(
      d,
      `/api/dlq/${target?.deliveryId}/replay`,
      d.token,
      {
        method: 'POST',
        body: '{}',
      },
    );
    expect(replay.body).toEqual({ replayed: 1 });
    await eventually(async () => {
      const runs = await api<Page<{ status: string }>>(d, '/api/runs?event=flaky-1', d.token);
      return runs.body.items.some((r) => r.status === 'completed');
    });
    const again = await api(d, `/api/dlq/${target?.deliveryId}/replay`, d.token, {
      method: 'POST',
    });
    expect(again.status).toBe(404);
  });

  it('replays by filter and purges by id', async () => {
    const dead = await api<Page<DeadItem>>(d, '/api/dlq', d.token);
    expect(dead.body.items.map((i) => i.eventId).sort()).toEqual(['flaky-2', 'flaky-3']);
    const purgeId = dead.body.items.find((i) => i.eventId === 'flaky-3')?.deliveryId;
    const purged = await api<{ purged: number }>(d, '/api/dlq/purge', d.token, {
      method: 'POST',
      body: JSON.stringify({ ids: [purgeId] }),
    });
    expect(purged.body).toEqual({ purged: 1 });
    const replayed = await api<{ replayed: number }>(d, '/api/dlq/replay', d.token, {
      method: 'POST',
      body: JSON.stringify({ route: 'flaky' }),
    });
    expect(replayed.body).toEqual({ replayed: 1 });
    await eventually(
      async () => (await api<Page<DeadItem>>(d, '/api/dlq', d.token)).body.items.length === 0,
    );
  });
});

describe('routes and the live stream', () => {
  it('lists routes with their backlog and state', async () => {
    const routes = await api<{ routes: { route: string; completed: number; active: boolean }[] }>(
      d,
      '/api/routes',
      d.token,
    );
    expect(routes.body.routes.find((r) => r.route === 'ok')).toMatchObject({
      active: true,
      completed: 121,
    });
  });

  it('streams new events and run status changes as Server-Sent Events', async () => {
    const controller = new AbortController();
    const response = await fetch(`${d.url}/api/stream`, {
      headers: { authorization: `Bearer ${d.token}` },
      signal: controller.signal,
    });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const read = async (until: (t: string) => boolean) => {
      while (!until(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
    };
    await read((t) => t.includes('event: hello'));
    await postEvents(d, [{ type: 'x.ok', id: 'live-1', data: { n: 1 } }]);
    await read(
      (t) => t.includes('"live-1"') && t.includes('event: runs') && t.includes('"completed"'),
    );
    expect(text).toMatch(/event: events\ndata: .*"live-1"/);
    controller.abort();
  });
});
