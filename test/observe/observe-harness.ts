// A daemon in this process for the observability tests, plus helpers to read /metrics and /api.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { startDaemon, type Daemon } from '../../src/app.js';
import { validateConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/observe/log.js';
import { readAdminToken } from '../../src/runtime/admin-token.js';

export interface TestDaemon {
  daemon: Daemon;
  url: string;
  token: string;
  dir: string;
  stop(): Promise<void>;
}

export async function startTestDaemon(
  raw: Record<string, unknown>,
  options: { traceExporter?: SpanExporter } = {},
): Promise<TestDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-observe-'));
  const daemon = await startDaemon({
    config: validateConfig({ log: { level: 'silent' }, ...raw }, 'test'),
    dataDir: dir,
    log: createLogger({ level: 'silent' }),
    port: 0,
    ...options,
  });
  return {
    daemon,
    url: daemon.url,
    token: readAdminToken(dir) ?? '',
    dir,
    async stop() {
      await daemon.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function postEvents(
  d: { url: string; token: string },
  events: Record<string, unknown>[],
  headers: Record<string, string> = {},
): Promise<{ accepted: { id: string }[] }> {
  const response = await fetch(`${d.url}/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/cloudevents-batch+json',
      authorization: `Bearer ${d.token}`,
      ...headers,
    },
    body: JSON.stringify(events),
  });
  if (response.status !== 202)
    throw new Error(`POST /events: ${response.status} ${await response.text()}`);
  return (await response.json()) as { accepted: { id: string }[] };
}

export async function api<T = unknown>(
  d: { url: string },
  path: string,
  token: string | undefined,
  init: RequestInit = {},
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${d.url}${path}`, {
    ...init,
    headers: {
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

/** The value of one sample in Prometheus text, or undefined when the line is absent. */
export function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (.+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const found: Record<string, string> = {};
    for (const pair of (match[3] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      found[pair[1] as string] = pair[2] as string;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[4]);
  }
  return undefined;
}

export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
