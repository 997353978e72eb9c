// The local HTTP API: structured, batch and binary CloudEvents in; clear errors for bad requests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { SqliteInspector } from '../../src/bus/sqlite/inspect-sql.js';
import { createLogger } from '../../src/observe/log.js';
import { createHttpApp } from '../../src/server/http-app.js';

const log = createLogger({ level: 'silent' });

describe('HTTP API', () => {
  let dir: string;
  let bus: SqliteBus;
  let ready = true;
  let app: ReturnType<typeof createHttpApp>;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'agentd-http-'));
    bus = new SqliteBus({ path: join(dir, 'agentd.db') });
    app = createHttpApp({
      publish: (e) => bus.publish(e),
      isReady: () => ready,
      log,
      node: 'test-node',
      bodyLimitBytes: 2_048,
    });
  });
  afterEach(async () => {
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const stored = () => new SqliteInspector(bus.db).events({ limit: 100 }).map((e) => e.event);
  const post = (body: string, headers: Record<string, string>) =>
    app.request('/events', { method: 'POST', body, headers });

  it('stores a structured event and answers 202 with its id', async () => {
    const res = await post(
      JSON.stringify({
        specversion: '1.0',
        type: 'demo.hello',
        id: 'e1',
        source: 'me',
        data: { a: 1 },
      }),
      {
        'content-type': 'application/cloudevents+json',
      },
    );
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: [{ id: 'e1', source: 'me', duplicate: false }] });
    expect(stored()[0]).toMatchObject({
      id: 'e1',
      type: 'demo.hello',
      data: { a: 1 },
      trust: 'operator',
      origin: 'test-node',
    });
  });

  it('reports a repeated (source, id) as a duplicate and stores it once', async () => {
    const body = JSON.stringify({ type: 'demo.hello', id: 'same', source: 'me' });
    await post(body, { 'content-type': 'application/json' });
    const res = await post(body, { 'content-type': 'application/json' });
    expect(
      ((await res.json()) as { accepted: { duplicate: boolean }[] }).accepted[0]?.duplicate,
    ).toBe(true);
    expect(stored()).toHaveLength(1);
  });

  it('accepts a batch', async () => {
    const res = await post(JSON.stringify([{ type: 'a.one' }, { type: 'a.two' }]), {
      'content-type': 'application/cloudevents-batch+json',
    });
    expect(res.status).toBe(202);
    expect(
      stored()
        .map((e) => e.type)
        .sort(),
    ).toEqual(['a.one', 'a.two']);
  });

  it('accepts binary mode with ce-* headers', async () => {
    const res = await post(JSON.stringify({ n: 1 }), {
      'content-type': 'application/json',
      'ce-specversion': '1.0',
      'ce-id': 'b1',
      'ce-source': 'bin%20source',
      'ce-type': 'demo.binary',
      'ce-partitionkey': 'k1',
      'ce-depth': '2',
    });
    expect(res.status).toBe(202);
    expect(stored()[0]).toMatchObject({
      id: 'b1',
      source: 'bin source',
      type: 'demo.binary',
      partitionkey: 'k1',
      depth: 2,
      data: { n: 1 },
    });
  });

  it('never lets a caller claim internal trust', async () => {
    await post(JSON.stringify({ type: 'a', trust: 'internal' }), {
      'content-type': 'application/json',
    });
    expect(stored()[0]?.trust).toBe('operator');
  });

  it('answers 400 naming the field for an invalid event, storing nothing', async () => {
    const res = await post(JSON.stringify({ type: 'has space' }), {
      'content-type': 'application/json',
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { issues: string[] };
    expect(body.issues[0]).toMatch(/^type: /);
    expect(stored()).toHaveLength(0);
  });

  it('answers 400 for malformed JSON and names the batch index of a bad event', async () => {
    expect((await post('{"type":', { 'content-type': 'application/json' })).status).toBe(400);
    const res = await post(JSON.stringify([{ type: 'ok' }, { type: 3 }]), {
      'content-type': 'application/cloudevents-batch+json',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { issues: string[] }).issues[0]).toMatch(/^\[1\]\.type: /);
    expect(stored()).toHaveLength(0);
  });

  it('answers 413 for an oversized body and 415 for a wrong content type', async () => {
    const big = JSON.stringify({ type: 'a', data: 'x'.repeat(5_000) });
    expect((await post(big, { 'content-type': 'application/json' })).status).toBe(413);
    expect(
      (await post('type=a', { 'content-type': 'application/x-www-form-urlencoded' })).status,
    ).toBe(415);
    expect(stored()).toHaveLength(0);
  });

  it('answers 503 with Retry-After when the store cannot take the event', async () => {
    await bus.close();
    const res = await post(JSON.stringify({ type: 'a' }), { 'content-type': 'application/json' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    bus = new SqliteBus({ path: join(dir, 'agentd.db') });
  });

  it('requires the bearer token when one is configured', async () => {
    const guarded = createHttpApp({
      publish: (e) => bus.publish(e),
      isReady: () => true,
      log,
      node: 'n',
      token: 'a-long-enough-token',
    });
    const send = (auth?: string) =>
      guarded.request('/events', {
        method: 'POST',
        body: JSON.stringify({ type: 'a' }),
        headers: {
          'content-type': 'application/json',
          ...(auth === undefined ? {} : { authorization: auth }),
        },
      });
    expect((await send()).status).toBe(401);
    expect((await send('Bearer wrong')).status).toBe(401);
    expect((await send('Bearer a-long-enough-token')).status).toBe(202);
  });

  it('serves healthz always and readyz only when ready', async () => {
    expect((await app.request('/healthz')).status).toBe(200);
    expect((await app.request('/readyz')).status).toBe(200);
    ready = false;
    expect((await app.request('/readyz')).status).toBe(503);
    ready = true;
    expect((await app.request('/nope')).status).toBe(404);
  });
});
