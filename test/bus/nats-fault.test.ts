// NATS goes away mid-run: a private nats-server (own port, own store directory) is stopped and
// started again while events flow. Every publish that resolved is handled afterwards, and no step
// runs again once its result was stored.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { validateConfig } from '../../src/core/config.js';
import { on } from '../../src/core/route.js';
import { createLogger } from '../../src/observe/log.js';
import { createWorker } from '../../src/runtime/worker.js';
import { createHttpApp } from '../../src/server/http-app.js';
import { event } from './conformance.js';
import { freePort, NATS_SERVER_BIN, natsAvailable, PrivateNatsServer } from './nats/nats-server.js';

const available = (await natsAvailable()) && NATS_SERVER_BIN !== undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(available)('NatsBus when NATS restarts mid-run', () => {
  let server: PrivateNatsServer | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'agentd-fault-'));

  afterAll(async () => {
    await server?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('handles every acknowledged event, and never re-runs a stored step', async () => {
    server = new PrivateNatsServer(await freePort());
    await server.start();
    const stream = 'FAULT';
    const executions: { id: string; at: number }[] = [];
    const completions = new Map<string, { nonce: number; at: number }[]>();
    const config = validateConfig(
      {
        routes: [
          on<number>('fault.x', {
            name: 'fault',
            concurrency: 16,
            retries: { maxAttempts: 100, initialMs: 50, maxMs: 500 },
            handler: async (e, ctx) => {
              const stored = await ctx.step('work', () => {
                executions.push({ id: e.id, at: Date.now() });
                return { nonce: Math.random() };
              });
              await sleep(5);
              const list = completions.get(e.id) ?? [];
              list.push({ nonce: stored.nonce, at: Date.now() });
              completions.set(e.id, list);
            },
          }),
        ],
      },
      'fault-test',
    );
    const log = createLogger({ level: 'silent' });
    const workerBus = await NatsBus.connect({ servers: server.url, stream, onError: () => {} });
    const worker = createWorker({
      bus: workerBus,
      routes: config.routes,
      log,
      source: 'agentd://fault',
      leaseMs: 1_500,
    });
    await worker.start();
    const publisher = await NatsBus.connect({ servers: server.url, stream, onError: () => {} });

    const acknowledged: string[] = [];
    let refused = 0;
    const publishing = (async () => {
      for (let i = 0; i < 400; i++) {
        const e = event('fault.x', { partitionkey: `k${i % 5}`, data: i });
        try {
          await publisher.publish([e]);
          acknowledged.push(e.id);
        } catch (error) {
          expect(error).toMatchObject({ code: 'BUS_UNAVAILABLE', retryable: true });
          refused++;
        }
        await sleep(8);
      }
    })();

    while (acknowledged.length < 120) await sleep(10);
    await server.stop();
    await sleep(300);
    // The HTTP ingress on a NATS that is away: 503 with Retry-After, nothing stored.
    const ingress = createHttpApp({
      publish: (events) => publisher.publish(events),
      isReady: () => true,
      log,
      node: 'fault',
    });
    const response = await ingress.request('/events', {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: JSON.stringify({
        specversion: '1.0',
        type: 'fault.x',
        source: 'curl',
        id: 'while-down',
      }),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    await sleep(1_200);
    await server.start();
    await publishing;
    expect(refused).toBeGreaterThan(0);

    const deadline = Date.now() + 90_000;
    while (acknowledged.some((id) => !completions.has(id)) && Date.now() < deadline)
      await sleep(100);
    await worker.stop();
    await workerBus.close();
    await publisher.close();

    expect(acknowledged.filter((id) => !completions.has(id))).toEqual([]);
    for (const id of acknowledged) {
      const done = completions.get(id)!;
      // First writer wins: every completion of an event saw the same stored step result.
      expect(new Set(done.map((c) => c.nonce)).size).toBe(1);
      // None twice past a finished step: no execution of the step began after one completed.
      const firstDone = Math.min(...done.map((c) => c.at));
      expect(executions.filter((x) => x.id === id && x.at > firstDone)).toEqual([]);
    }
  }, 150_000);
});
