// The ingress checks every webhook route shares, over app.request() and over a real socket:
// unknown names, methods, truncated uploads and endless bodies, and the reject counts.
import { serve, type ServerType } from '@hono/node-server';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpApp } from '../../../src/server/http-app.js';
import { GithubWebhookSource } from '../../../src/sources/webhook/github/github-webhook-source.js';
import { SlackWebhookSource } from '../../../src/sources/webhook/slack/slack-webhook-source.js';
import {
  createHarness,
  fixture,
  githubHeaders,
  log,
  post,
  type Harness,
} from './webhook-harness.js';

const SECRET = 'ingress-test-secret';
const PUSH = fixture('github/push.json');

describe('webhook ingress', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness(
      [
        new GithubWebhookSource({ name: 'gh', secrets: [SECRET], log }),
        new SlackWebhookSource({ name: 'chat', signingSecrets: ['s'], log }),
      ],
      { bodyLimitBytes: 64 * 1024 },
    );
  });
  afterEach(async () => {
    await h.close();
  });

  it('answers 404 for an unknown source, counted under (unknown), never under its name', async () => {
    for (const path of ['/hooks/nope', '/hooks/gh/extra', '/hooks/'])
      expect((await post(h.app, path, PUSH, githubHeaders(PUSH, SECRET, 'push', 'x'))).status).toBe(
        404,
      );
    expect(h.rejects.snapshot()).toEqual([
      { source: '(unknown)', reason: 'unknown-source', count: 3 },
    ]);
  });

  it('answers 405 with Allow: POST for other methods', async () => {
    const res = await h.app.request('/hooks/gh');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('answers 415 for a missing content type before reading the body', async () => {
    const res = await post(h.app, '/hooks/chat', '{}', {});
    expect(res.status).toBe(415);
    expect(h.rejects.forSource('chat')).toEqual({ 'content-type': 1 });
  });

  it('lists sources with their reject counts on GET /sources, behind the admin token', async () => {
    await post(h.app, '/hooks/gh', PUSH, { 'content-type': 'application/json' });
    await post(h.app, '/hooks/zzz', PUSH, { 'content-type': 'application/json' });
    const res = await h.app.request('/sources');
    expect(await res.json()).toEqual({
      sources: [
        { name: 'gh', kind: 'github', path: '/hooks/gh', rejects: { 'missing-signature': 1 } },
        { name: 'chat', kind: 'slack', path: '/hooks/chat', rejects: {} },
      ],
      unknownPathRejects: { 'unknown-source': 1 },
    });
    const guarded = createHttpApp({
      publish: (events) => h.bus.publish(events),
      isReady: () => true,
      log,
      node: 'n',
      token: 'an-admin-token-of-length',
    });
    expect((await guarded.request('/sources')).status).toBe(401);
    const authorized = await guarded.request('/sources', {
      headers: { authorization: 'Bearer an-admin-token-of-length' },
    });
    expect(authorized.status).toBe(200);
  });

  describe('over a real socket', () => {
    let server: ServerType;
    let port: number;
    beforeEach(async () => {
      await new Promise<void>((resolve) => {
        server = serve({ fetch: h.app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
          port = info.port;
          resolve();
        });
      });
    });
    afterEach(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('stores nothing when the sender hangs up mid-body, and keeps serving', async () => {
      const headers = githubHeaders(PUSH, SECRET, 'push', 'hangup-1');
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(
            `POST /hooks/gh HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: ${Buffer.byteLength(PUSH)}\r\n` +
              Object.entries(headers)
                .map(([name, value]) => `${name}: ${value}\r\n`)
                .join('') +
              `\r\n${PUSH.slice(0, 200)}`,
          );
          setTimeout(() => socket.destroy(), 50);
        });
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
      await new Promise((resolve) => setTimeout(resolve, 100));
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).toBe(200);
      expect(h.stored()).toHaveLength(0);
      expect(h.rejects.forSource('gh')).toEqual({ 'unreadable-body': 1 });
    });

    it('answers 413 to a chunked body that outgrows the limit, without reading it all', async () => {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/hooks/gh',
            headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
            req.destroy();
          },
        );
        req.on('error', (error: NodeJS.ErrnoException) => {
          // The server may close before every chunk is written; the status already arrived.
          if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
        });
        const chunk = Buffer.alloc(16 * 1024, 'a');
        let sent = 0;
        const pump = () => {
          while (sent < 4 * 1024 * 1024 && !req.destroyed) {
            sent += chunk.length;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      expect(status).toBe(413);
      expect(h.stored()).toHaveLength(0);
      expect(h.rejects.forSource('gh')).toEqual({ 'body-too-large': 1 });
    });
  });
});
