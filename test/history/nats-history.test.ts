// The admin API's history on a real NATS bus: a daemon in this process projects the events stream
// and its worker's run changes into its history file, and /api/events, /api/runs, lineage, routes
// and the DLQ answer from it and from the bus; a restart resumes without applying anything twice.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { startDaemon, type Daemon } from '../../src/app.js';
import { validateConfig } from '../../src/core/config.js';
import { on } from '../../src/core/route.js';
import { createLogger } from '../../src/observe/log.js';
import { readAdminToken } from '../../src/runtime/admin-token.js';
import type {
  DeadLetterSummary,
  EventSummary,
  Lineage,
  Page,
  RoutesAnswer,
  RunDetail,
  RunRecord,
} from '../../src/server/admin-types.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from '../bus/nats/nats-server.js';
import { api, eventually, postEvents } from '../observe/observe-harness.js';

const available = await natsAvailable();

vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

describe.runIf(available)('the admin API history on a NATS bus', () => {
  const stream = uniqueStream('HIST');
  const dir = mkdtempSync(join(tmpdir(), 'agentd-history-'));
  let daemon: Daemon | undefined;

  afterAll(async () => {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
    await dropNamespace(NATS_URL, stream);
  });

  const start = async () =>
    startDaemon({
      config: validateConfig(
        {
          log: { level: 'silent' },
          bus: { kind: 'nats', servers: NATS_URL, stream },
          routes: [
            on('h.ok', {
              name: 'ok',
              handler: async (event, ctx) => {
                await ctx.step('first', () => 1);
                if ((event.data as { emit?: boolean } | undefined)?.emit === true)
                  ctx.emit({ type: 'h.child', data: {} });
              },
            }),
            on('h.bad', {
              name: 'bad',
              retries: { maxAttempts: 2, initialMs: 10, maxMs: 10 },
              handler: () => {
                throw new Error('always fails');
              },
            }),
          ],
        },
        'test',
      ),
      dataDir: dir,
      log: createLogger({ level: 'silent' }),
      port: 0,
    });

  it('answers events, runs, lineage, routes and dead letters, and resumes after a restart', async () => {
    daemon = await start();
    const token = readAdminToken(dir) ?? '';
    let d = { url: daemon.url, token };
    const get = async <T>(path: string) => {
      const answer = await api<T>(d, path, token);
      expect(answer.status, path).toBe(200);
      return answer.body;
    };
    const event = (id: string, type: string, extra: Record<string, unknown> = {}) => ({
      specversion: '1.0',
      id,
      source: 'test',
      type,
      ...extra,
    });
    await postEvents(d, [
      event('e1', 'h.ok', { partitionkey: 'k1', data: { emit: true } }),
      event('e2', 'h.ok', { partitionkey: 'k2' }),
      event('e3', 'h.bad'),
    ]);

    // Runs appear as the worker reports them: both completed, the bad one dead after 2 attempts.
    await eventually(async () => {
      const done = await get<Page<RunRecord>>('/api/runs?route=ok&status=completed');
      const dead = await get<Page<RunRecord>>('/api/runs?status=dead');
      return done.items.length === 2 && dead.items.length === 1;
    }, 60_000);

    const ok = await get<Page<EventSummary>>('/api/events?type=h.ok');
    expect(ok.items.map((e) => e.event.id)).toEqual(['e2', 'e1']);
    expect(ok.items[0]!.seq).toBeGreaterThan(ok.items[1]!.seq);
    const keyed = await get<Page<EventSummary>>('/api/events?key=k1&type=h.ok');
    expect(keyed.items.map((e) => e.event.id)).toEqual(['e1']);
    const first = await get<Page<EventSummary>>('/api/events?type=h.ok&limit=1');
    expect(first.items.map((e) => e.event.id)).toEqual(['e2']);
    const second = await get<Page<EventSummary>>(
      `/api/events?type=h.ok&limit=1&cursor=${first.nextCursor ?? ''}`,
    );
    expect(second.items.map((e) => e.event.id)).toEqual(['e1']);
    expect(second.nextCursor).toBeNull();

    const bad = await get<EventSummary>('/api/events/e3');
    expect(bad.runs).toEqual([
      expect.objectContaining({ route: 'bad', status: 'dead', attempt: 2 }),
    ]);
    const dead = (await get<Page<RunRecord>>('/api/runs?status=dead')).items[0]!;
    expect(dead.errors.map((e) => e.attempt)).toEqual([1, 2]);
    expect(dead.errors[1]!.error).toMatch(/always fails/);
    const detail = await get<RunDetail>(`/api/runs/${dead.runId}`);
    expect(detail.event.id).toBe('e3');
    expect(detail.finishedAt).not.toBeNull();

    // Steps come from the state bucket, where NATS keeps them.
    const e1 = (await get<Page<RunRecord>>('/api/runs?event=e1')).items[0]!;
    const withSteps = await get<RunDetail>(`/api/runs/${e1.runId}`);
    expect(withSteps.steps).toEqual([expect.objectContaining({ name: 'first', value: 1 })]);

    const lineage = await get<Lineage>('/api/events/e1/lineage');
    expect(lineage.root.runs).toHaveLength(1);
    const emitted = lineage.root.runs[0]!.emitted;
    expect(emitted.map((e) => e.type)).toEqual(['h.child']);

    // Routes and dead letters come from the bus: its DLQ ids are the ones replay takes.
    const routes = await get<RoutesAnswer>('/api/routes');
    expect(routes.routes.find((r) => r.route === 'bad')?.dead).toBe(1);
    // What the bus does not count comes from the history: the completed runs.
    expect(routes.routes.find((r) => r.route === 'ok')?.completed).toBe(2);
    const dlq = await get<Page<DeadLetterSummary>>('/api/dlq');
    expect(dlq.items).toEqual([expect.objectContaining({ route: 'bad', eventId: 'e3' })]);

    const runsBefore = await get<Page<RunRecord>>('/api/runs?limit=100');
    const eventsBefore = await get<Page<EventSummary>>('/api/events?limit=100');
    await daemon.stop();
    daemon = await start();
    d = { url: daemon.url, token };
    await postEvents(d, [event('e4', 'h.ok')]);
    await eventually(async () => {
      const done = await get<Page<RunRecord>>('/api/runs?route=ok&status=completed');
      return done.items.length === 3;
    }, 60_000);
    // Nothing read before the restart was applied again: the same rows, plus the new ones.
    const runsAfter = await get<Page<RunRecord>>('/api/runs?limit=100');
    expect(runsAfter.items.slice(-runsBefore.items.length)).toEqual(runsBefore.items);
    const eventsAfter = await get<Page<EventSummary>>('/api/events?limit=100');
    const ids = eventsAfter.items.map((e) => `${e.event.source} ${e.event.id}`);
    expect(new Set(ids).size).toBe(ids.length);
    expect(eventsAfter.items.slice(-eventsBefore.items.length).map((e) => e.seq)).toEqual(
      eventsBefore.items.map((e) => e.seq),
    );
    expect(
      (await get<Page<EventSummary>>('/api/events?type=h.ok')).items.map((e) => e.event.id),
    ).toEqual(['e4', 'e2', 'e1']);

    // The live stream gets run changes as the file applies them, under the file's run ids.
    const live = new AbortController();
    const response = await fetch(`${d.url}/api/stream`, {
      headers: { authorization: `Bearer ${token}` },
      signal: live.signal,
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    const chunk = async () => {
      const { value, done } = await reader.read();
      if (done) throw new Error('the live stream ended');
      return decoder.decode(value, { stream: true });
    };
    expect(await chunk()).toContain('event: hello');
    await postEvents(d, [event('e5', 'h.ok')]);
    let text = '';
    while (!/"status":"completed"/.test(text)) text += await chunk();
    live.abort();
    const e5 = (await get<Page<RunRecord>>('/api/runs?event=e5')).items[0]!;
    expect(text).toContain(`"runId":"${e5.runId}"`);

    // Deleted, the file is built again from the streams on the next start.
    await daemon.stop();
    rmSync(join(dir, 'nats-history.db'));
    daemon = await start();
    d = { url: daemon.url, token };
    await eventually(async () => {
      const done = await get<Page<RunRecord>>('/api/runs?route=ok&status=completed');
      const failed = await get<Page<RunRecord>>('/api/runs?status=dead');
      return done.items.length === 4 && failed.items.length === 1;
    }, 60_000);
    expect(
      (await get<Page<EventSummary>>('/api/events?type=h.ok')).items.map((e) => e.event.id),
    ).toEqual(['e5', 'e4', 'e2', 'e1']);
  });
});
