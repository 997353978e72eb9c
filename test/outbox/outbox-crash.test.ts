// Crash test: a real daemon is kill -9'd at random moments while 500 events each make one GitHub
// comment and one Slack message; after the restarts, the fakes hold exactly one of each per event.
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyUrl, REPO, spawnDaemon, type DaemonChild } from '../fixtures/daemon-child.js';
import { GITHUB_TOKEN, startFakeGithub, type FakeGithub } from '../fixtures/fake-github-server.js';
import { SLACK_TOKEN, startFakeSlack, type FakeSlack } from '../fixtures/fake-slack-server.js';

const EVENTS = 500;
const KILLS = 5;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Handlers take 10-30 ms at concurrency 8 (about 2.5 s for all 500 runs), and each sink sends at
 * most 60 a second (over 8 s for 500): every kill lands while runs or sends remain.
 */
function configSource(github: FakeGithub, slack: FakeSlack): string {
  const api = pathToFileURL(join(REPO, 'src/index.ts')).href;
  return `import { setTimeout as sleep } from 'node:timers/promises';
import { defineConfig, on } from ${JSON.stringify(api)};

export default defineConfig({
  log: { level: 'warn' },
  outbox: {
    github: { kind: 'token', token: ${JSON.stringify(GITHUB_TOKEN)}, baseUrl: ${JSON.stringify(github.url)},
              rateLimit: { perSecond: 60, burst: 10 }, concurrency: 8 },
    slack: { token: ${JSON.stringify(SLACK_TOKEN)}, apiUrl: ${JSON.stringify(slack.apiUrl)},
             rateLimit: { perSecond: 60, burst: 10 }, concurrency: 8 },
    backoff: { initialMs: 100, maxMs: 1000 },
  },
  routes: [
    on('work.item', {
      name: 'notify',
      concurrency: 8,
      ordering: 'none',
      handler: async (event, ctx) => {
        await sleep(10 + Math.random() * 20);
        const n = event.data.n;
        ctx.outbox.github.comment({ repo: 'acme/widgets', issue: n, body: 'item ' + n });
        ctx.outbox.slack.postMessage({ channel: 'C1', text: 'item ' + n });
      },
    }),
  ],
});
`;
}

type Incarnation = DaemonChild;

describe('the outbox under kill -9 of the daemon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-outbox-crash-'));
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'agentd.config.ts');
  const output: string[] = [];
  let github: FakeGithub;
  let slack: FakeSlack;
  let kills = 0;
  let finalExit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  function start(): Incarnation {
    return spawnDaemon({ configFile, dataDir, output });
  }

  const ready = (incarnation: Incarnation) =>
    readyUrl(incarnation.child, { dataDir, output }, 60_000);

  async function publishAll(url: string): Promise<void> {
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    for (let from = 1; from <= EVENTS; from += 100) {
      const batch = Array.from({ length: Math.min(100, EVENTS - from + 1) }, (_, i) => ({
        specversion: '1.0',
        type: 'work.item',
        source: 'crash-test',
        id: `item-${from + i}`,
        data: { n: from + i },
      }));
      const response = await fetch(`${url}/events`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/cloudevents-batch+json',
        },
        body: JSON.stringify(batch),
      });
      expect(response.status).toBe(202);
    }
  }

  const commentCount = () => [...github.comments.values()].reduce((n, list) => n + list.length, 0);
  const done = () => commentCount() >= EVENTS && slack.messages.length >= EVENTS;

  beforeAll(async () => {
    const began = Date.now();
    github = await startFakeGithub({ repos: ['acme/widgets'], latencyMs: 40 });
    slack = await startFakeSlack({ channels: ['C1'], latencyMs: 40 });
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
    writeFileSync(configFile, configSource(github, slack));

    let current = start();
    await publishAll(await ready(current));
    for (let i = 0; i < KILLS && !done(); i++) {
      await sleep(300 + Math.random() * 1_200);
      if (done()) break;
      current.child.kill('SIGKILL');
      await current.exited;
      kills++;
      current = start();
      await ready(current);
    }
    const deadline = Date.now() + 120_000;
    while (!done() && Date.now() < deadline) await sleep(100);
    // Anything still in flight would show up as a duplicate now.
    await sleep(1_500);
    current.child.kill('SIGTERM');
    finalExit = await current.exited;
    const lookups = github.requests.filter((r) => r.method === 'GET').length;
    const posts = github.requests.filter((r) => r.method === 'POST').length;
    console.info(
      `outbox crash test: ${kills} kills in ${Date.now() - began} ms; GitHub: ${posts} comment ` +
        `POSTs, ${lookups} lookups for an earlier send; Slack: ${slack.calls('chat.postMessage').length} ` +
        `posts, ${slack.calls('conversations.history').length} history reads`,
    );
  }, 300_000);

  afterAll(async () => {
    await github?.close();
    await slack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`is killed ${KILLS} times while work remains`, () => {
    expect(kills, output.join('')).toBe(KILLS);
  });

  it('posts exactly one comment per event on GitHub', () => {
    for (let n = 1; n <= EVENTS; n++) {
      const list = github.comments.get(`acme/widgets#${n}`) ?? [];
      expect(
        list.map((c) => c.body.split('\n')[0]),
        `issue ${n}`,
      ).toEqual([`item ${n}`]);
    }
  });

  it('posts exactly one Slack message per event', () => {
    const texts = slack.messages.map((m) => m.text);
    expect(texts).toHaveLength(EVENTS);
    expect(new Set(texts).size).toBe(EVENTS);
  });

  it('leaves every action done, none dead, and stops cleanly after the last restart', () => {
    const db = new Database(join(dataDir, 'agentd.db'), { readonly: true });
    try {
      const states = db
        .prepare<[], { state: string; n: number }>(
          `SELECT state, count(*) AS n FROM outbox GROUP BY state`,
        )
        .all();
      expect(states).toEqual([{ state: 'done', n: EVENTS * 2 }]);
    } finally {
      db.close();
    }
    expect(finalExit).toEqual({ code: 0, signal: null });
  });
});
