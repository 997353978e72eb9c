// FLOOD TEST (slow: about half a minute on a busy machine; part of `npm test`). A real daemon in a
// child process, a Standard Webhooks source and a slow route with maxBacklog 200, and 20,000 signed
// posts from 50 keep-alive clients, far faster than the route runs. The daemon's RSS (from its own
// /metrics) stays bounded, the excess is refused with 429 + Retry-After, and once every 429 was
// retried until accepted (as a real sender does), every event is handled exactly once.
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  eventually,
  killAll,
  makeTempDir,
  removeTempDirs,
  sleep,
  startDaemon,
  writeConfig,
  type RunningDaemon,
} from '../cli/run-cli.js';
import { sample } from '../observe/observe-harness.js';

vi.setConfig({ testTimeout: 180_000, hookTimeout: 90_000 });

const POSTS = 20_000;
const CLIENTS = 50;
const MAX_BACKLOG = 200;
const RSS_BOUND = 400 * 1024 * 1024;
const SECRET = `whsec_${Buffer.from('the flood test standard webhooks').toString('base64')}`;

interface Tally {
  accepted: Set<string>;
  refused: number;
  retryAfters: Set<string>;
  /** Statuses other than 202 and 429, with a body each: none expected. */
  unexpected: string[];
  /** Connections reset under the client (sent again, as a sender would). */
  resets: number;
}

let dir: string;
let daemon: RunningDaemon;
let handledFile: string;

beforeAll(async () => {
  dir = makeTempDir();
  handledFile = join(dir, 'handled.txt');
  writeFileSync(handledFile, '');
  writeConfig(
    dir,
    `import { appendFileSync } from 'node:fs';
export default defineConfig({
  log: { level: 'error' },
  server: { auth: false },
  sources: [{ kind: 'webhook', name: 'flood', secret: ${JSON.stringify(SECRET)}, type: 'flood.{{type}}' }],
  routes: [
    on('flood.item', {
      name: 'slow',
      concurrency: 8,
      maxBacklog: ${MAX_BACKLOG},
      // Slower than the posts come: each run waits 5 ms before it records its event.
      handler: async (event) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        appendFileSync(${JSON.stringify(handledFile)}, event.id + '\\n');
      },
    }),
  ],
});`,
  );
  daemon = await startDaemon(dir, 'data', ['--config', 'agentd.config.ts']);
});

afterAll(async () => {
  agent.destroy();
  await killAll();
  removeTempDirs();
});

const signer = new Webhook(SECRET);
// node:http over keep-alive sockets, one per client: cheaper per request than fetch, so the CPU
// goes to the daemon under test.
const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });

interface Reply {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

function post(path: string, body: string, headers: Record<string, string>): Promise<Reply> {
  const url = new URL(path, daemon.url);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          retryAfter: res.headers['retry-after'],
          body: text,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Posts event `n` until it is accepted, backing off briefly after each 429. */
async function deliver(n: number, tally: Tally): Promise<void> {
  const id = `msg_flood_${n}`;
  const body = JSON.stringify({ type: 'item', n });
  for (;;) {
    const at = new Date();
    let reply: Reply;
    try {
      reply = await post('/hooks/flood', body, {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': signer.sign(id, at, body),
      });
    } catch (error) {
      // A keep-alive socket the server closed as it was reused: the post may or may not have been
      // stored, so a sender sends it again with the same webhook-id (a duplicate is dropped).
      if ((error as NodeJS.ErrnoException).code !== 'ECONNRESET') throw error;
      tally.resets++;
      continue;
    }
    if (reply.status === 202) {
      tally.accepted.add(id);
      return;
    }
    if (reply.status !== 429) {
      tally.unexpected.push(`${reply.status} ${reply.body}`);
      return;
    }
    tally.refused++;
    tally.retryAfters.add(reply.retryAfter ?? '(none)');
    // A real sender waits Retry-After (1 s or more); a fraction of it keeps the flood on and the
    // test short, without spending the daemon's CPU on refusals alone.
    await sleep(100 + Math.random() * 200);
  }
}

async function rssOf(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('process_resident_memory_bytes '));
  return Number(line?.split(' ')[1]);
}

describe('flood: 20,000 webhook posts against a route with maxBacklog 200 (slow test)', () => {
  it('keeps RSS bounded, refuses the excess with 429 + Retry-After, and handles every accepted post exactly once', async () => {
    const tally: Tally = {
      accepted: new Set(),
      refused: 0,
      retryAfters: new Set(),
      unexpected: [],
      resets: 0,
    };
    const rss: number[] = [];
    let flooding = true;
    const sampler = (async () => {
      while (flooding) {
        rss.push(await rssOf(daemon.url));
        await sleep(1_000);
      }
    })();

    let next = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < POSTS) await deliver(next++, tally);
      }),
    );
    flooding = false;
    await sampler;

    expect(tally.unexpected).toEqual([]);
    expect(tally.accepted.size).toBe(POSTS);
    // The posts outran the route: the excess was refused, each 429 saying when to come back.
    expect(tally.refused).toBeGreaterThan(0);
    for (const value of tally.retryAfters) {
      expect(value).toMatch(/^\d+$/);
      expect(Number(value)).toBeGreaterThanOrEqual(1);
      expect(Number(value)).toBeLessThanOrEqual(60);
    }

    // Every accepted event runs once: no loss, no duplicate.
    const handled = await eventually(async () => {
      const lines = readFileSync(handledFile, 'utf8').split('\n').filter(Boolean);
      return lines.length >= POSTS ? lines : undefined;
    }, 'every accepted post to be handled');
    await sleep(500);
    const final = readFileSync(handledFile, 'utf8').split('\n').filter(Boolean);
    expect(final.length).toBe(handled.length);
    expect(final.length).toBe(POSTS);
    expect(new Set(final)).toEqual(tally.accepted);

    // Memory: bounded, and not climbing with the number of posts (the backlog lives on disk).
    expect(rss.length).toBeGreaterThan(4);
    const peak = Math.max(...rss);
    expect(peak).toBeLessThan(RSS_BOUND);
    const half = Math.floor(rss.length / 2);
    const firstHalfPeak = Math.max(...rss.slice(0, half));
    const secondHalfPeak = Math.max(...rss.slice(half));
    expect(secondHalfPeak).toBeLessThan(firstHalfPeak * 1.5);

    // /metrics counts the 429s per source and route.
    const text = await (await fetch(`${daemon.url}/metrics`)).text();
    expect(
      sample(text, 'agentd_webhook_rejects_total', {
        source: 'flood',
        reason: 'backlog-full',
        route: 'slow',
      }),
    ).toBe(tally.refused);
    console.info(
      `flood: ${POSTS} accepted, ${tally.refused} refused with 429 (Retry-After ${[
        ...tally.retryAfters,
      ].join('/')} s); RSS peak ${Math.round(peak / 2 ** 20)} MiB over ${rss.length} samples`,
    );
  });
});
