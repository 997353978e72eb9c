// A real SqliteBus and the real ingress app with the given sources mounted, plus signing helpers
// that speak each sender's wire format, for the webhook source tests.
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Hono } from 'hono';
import { Webhook } from 'standardwebhooks';
import { SqliteInspector } from '../../../src/bus/sqlite/inspect-sql.js';
import { SqliteBus } from '../../../src/bus/sqlite/sqlite-bus.js';
import type { AgentdEvent } from '../../../src/core/envelope.js';
import { createLogger } from '../../../src/observe/log.js';
import { RejectCounter } from '../../../src/observe/reject-counter.js';
import { createHttpApp } from '../../../src/server/http-app.js';
import type { Source } from '../../../src/sources/source.js';

export const log = createLogger({ level: 'silent' });
const FIXTURES = new URL('../../fixtures/', import.meta.url);

export interface Harness {
  app: Hono;
  bus: SqliteBus;
  rejects: RejectCounter;
  stored(): AgentdEvent[];
  close(): Promise<void>;
}

export async function createHarness(
  sources: readonly Source[],
  options: { bodyLimitBytes?: number } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-hooks-'));
  const bus = new SqliteBus({ path: join(dir, 'agentd.db') });
  const controller = new AbortController();
  for (const source of sources)
    await source.start((events) => bus.publish(events), controller.signal);
  const rejects = new RejectCounter();
  const app = createHttpApp({
    publish: (events) => bus.publish(events),
    isReady: () => true,
    log,
    node: 'test-node',
    sources,
    rejects,
    ...(options.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: options.bodyLimitBytes }),
  });
  return {
    app,
    bus,
    rejects,
    stored: () =>
      new SqliteInspector(bus.db)
        .events({ limit: 10_000 })
        .map((row) => row.event)
        .filter((event) => !event.type.startsWith('agentd.')),
    async close() {
      controller.abort();
      await bus.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A payload file under test/fixtures, as the exact bytes a sender would send. */
export function fixture(path: string): string {
  return readFileSync(new URL(path, FIXTURES), 'utf8');
}

export function post(
  app: Hono,
  path: string,
  body: string | Uint8Array,
  headers: Record<string, string>,
) {
  return app.request(path, { method: 'POST', body, headers });
}

/** A copy of `headers` without `name`. */
export function omit(headers: Record<string, string>, name: string): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([key]) => key !== name));
}

/** GitHub's headers for a delivery, signed with `secret` as GitHub does (HMAC-SHA256 of the body). */
export function githubHeaders(
  body: string,
  secret: string,
  event: string,
  delivery: string,
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/4f1a2b3',
    'x-github-event': event,
    'x-github-delivery': delivery,
    'x-github-hook-id': '498765432',
    'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
  };
}

/** Slack's headers for a request, signed with the signing secret at `timestamp` (Unix seconds). */
export function slackHeaders(
  body: string,
  secret: string,
  timestamp = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const signature = createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex');
  return {
    'content-type': 'application/json',
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': `v0=${signature}`,
  };
}

/** Standard Webhooks headers, signed by the reference implementation. */
export function standardHeaders(
  body: string,
  secret: string,
  id: string,
  at = new Date(),
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  };
}
