// The sinks with the vendors' real clients (Octokit, @slack/web-api, fetch) against loopback fakes.
import { generateKeyPairSync } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SinkError, type SinkDelivery } from '../../src/outbox/sink.js';
import { GithubSink } from '../../src/outbox/sinks/github-sink.js';
import { HttpSink } from '../../src/outbox/sinks/http-sink.js';
import { SlackSink } from '../../src/outbox/sinks/slack-sink.js';
import { GITHUB_TOKEN, startFakeGithub, type FakeGithub } from '../fixtures/fake-github-server.js';
import { SLACK_TOKEN, startFakeSlack, type FakeSlack } from '../fixtures/fake-slack-server.js';
import { startRecordingServer, type RecordingServer } from '../fixtures/recording-server.js';

let counter = 0;
function delivery(
  action: string,
  params: unknown,
  extra: Partial<SinkDelivery> = {},
): SinkDelivery {
  return {
    key: `key${++counter}`.padEnd(32, '0'),
    action,
    params,
    recordedAt: Date.now(),
    mayHaveSent: false,
    signal: AbortSignal.timeout(10_000),
    ...extra,
  };
}

async function failure(promise: Promise<unknown>): Promise<SinkError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SinkError);
    return error as SinkError;
  }
  throw new Error('expected the send to fail');
}

describe('GitHub sink (Octokit against a fake GitHub)', () => {
  let github: FakeGithub;
  let sink: GithubSink;
  beforeAll(async () => {
    github = await startFakeGithub({ repos: ['acme/widgets'] });
    sink = new GithubSink({ auth: { kind: 'token', token: GITHUB_TOKEN }, baseUrl: github.url });
  });
  afterAll(() => github.close());

  it('posts a comment carrying the hidden marker of its idempotency key', async () => {
    const d = delivery('comment', { repo: 'acme/widgets', issue: 1, body: 'hello' });
    const result = (await sink.deliver(d)) as { id: number; created: boolean };
    expect(result.created).toBe(true);
    expect(github.comments.get('acme/widgets#1')?.[0]?.body).toBe(
      `hello\n\n<!-- agentd:${d.key} -->`,
    );
  });

  it('edits the comment of its marker instead of posting another', async () => {
    const params = { repo: 'acme/widgets', issue: 2, body: 'first', marker: 'review' };
    await sink.deliver(delivery('comment', params));
    const second = (await sink.deliver(delivery('comment', { ...params, body: 'second' }))) as {
      updated: boolean;
    };
    expect(second.updated).toBe(true);
    const list = github.comments.get('acme/widgets#2') ?? [];
    expect(list).toHaveLength(1);
    expect(list[0]?.body).toBe('second\n\n<!-- agentd:review -->');
  });

  it('finds its own comment on a resend instead of posting it twice, across pages', async () => {
    for (let i = 0; i < 150; i++)
      await sink.deliver(delivery('comment', { repo: 'acme/widgets', issue: 3, body: `c${i}` }));
    const d = delivery('comment', { repo: 'acme/widgets', issue: 3, body: 'mine' });
    await sink.deliver(d);
    const again = (await sink.deliver({ ...d, mayHaveSent: true })) as { changed: boolean };
    expect(again.changed).toBe(false);
    expect(github.comments.get('acme/widgets#3')).toHaveLength(151);
  });

  it('creates a check run, then completes that same run', async () => {
    const base = { repo: 'acme/widgets', headSha: 'abc1234', name: 'agentd/review' };
    await sink.deliver(delivery('createCheckRun', { ...base, status: 'in_progress' }));
    const done = (await sink.deliver(
      delivery('completeCheckRun', {
        ...base,
        conclusion: 'success',
        output: { title: 'ok', summary: 'all good' },
      }),
    )) as { updated: boolean };
    expect(done.updated).toBe(true);
    const runs = github.checkRuns.filter((r) => r.head_sha === 'abc1234');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'completed', conclusion: 'success' });
  });

  it('sets commit statuses and adds and removes labels, a missing label being no error', async () => {
    await sink.deliver(
      delivery('status', { repo: 'acme/widgets', sha: 'def5678', state: 'pending' }),
    );
    expect(github.statuses.at(-1)).toMatchObject({ state: 'pending', context: 'agentd' });
    await sink.deliver(
      delivery('labels', { repo: 'acme/widgets', issue: 4, add: ['bug', 'triaged'] }),
    );
    await sink.deliver(
      delivery('labels', { repo: 'acme/widgets', issue: 4, remove: ['bug', 'never-there'] }),
    );
    expect([...(github.labels.get('acme/widgets#4') ?? [])]).toEqual(['triaged']);
  });

  it('submits a review once: a resend finds it by its marker', async () => {
    const d = delivery('review', { repo: 'acme/widgets', pull: 5, event: 'COMMENT', body: 'LGTM' });
    await sink.deliver(d);
    await sink.deliver({ ...d, mayHaveSent: true });
    expect(github.reviews.get('acme/widgets#5')).toHaveLength(1);
  });

  it('retries 5xx, waits as told on 429, and does not retry 404 or 422 (with the body)', async () => {
    const comment = () =>
      sink.deliver(delivery('comment', { repo: 'acme/widgets', issue: 6, body: 'x' }));
    github.fail({
      method: 'POST',
      path: /\/issues\/6\/comments$/,
      status: 502,
      body: { message: 'Bad Gateway' },
    });
    const e502 = await failure(comment());
    expect(e502).toMatchObject({ retryable: true, status: 502 });
    github.fail({
      method: 'POST',
      path: /\/issues\/6\/comments$/,
      status: 429,
      headers: { 'retry-after': '7' },
      body: { message: 'slow down' },
    });
    expect(await failure(comment())).toMatchObject({
      retryable: true,
      retryAfterMs: 7_000,
      status: 429,
    });
    github.fail({
      method: 'POST',
      path: /\/issues\/6\/comments$/,
      status: 403,
      headers: {
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 30),
      },
      body: { message: 'API rate limit exceeded' },
    });
    const limited = await failure(comment());
    expect(limited.retryable).toBe(true);
    expect(limited.retryAfterMs).toBeGreaterThan(25_000);
    github.fail({
      method: 'POST',
      path: /\/issues\/6\/comments$/,
      status: 422,
      body: { message: 'Validation Failed', errors: [{ code: 'invalid' }] },
    });
    const e422 = await failure(comment());
    expect(e422).toMatchObject({ retryable: false, status: 422 });
    expect(e422.body).toContain('Validation Failed');
    const e404 = await failure(
      sink.deliver(delivery('comment', { repo: 'acme/nope', issue: 1, body: 'x' })),
    );
    expect(e404).toMatchObject({ retryable: false, status: 404 });
    expect(e404.body).toContain('Not Found');
  });
});

describe('GitHub sink as a GitHub App', () => {
  it('signs a JWT with the private key, gets an installation token, and comments with it', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const github = await startFakeGithub({
      tokens: [],
      app: {
        id: 4242,
        installationId: 77,
        publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
    });
    try {
      const sink = new GithubSink({
        auth: {
          kind: 'app',
          appId: 4242,
          privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        },
        baseUrl: github.url,
      });
      await sink.deliver(
        delivery('comment', { repo: 'acme/widgets', issue: 9, body: 'from the app' }),
      );
      await sink.deliver(delivery('comment', { repo: 'acme/widgets', issue: 9, body: 'again' }));
      const paths = github.requests.map((r) => `${r.method} ${r.path}`);
      expect(paths.filter((p) => p === 'GET /repos/acme/widgets/installation')).toHaveLength(1);
      expect(paths.filter((p) => p === 'POST /app/installations/77/access_tokens')).toHaveLength(1);
      expect(github.comments.get('acme/widgets#9')).toHaveLength(2);
      const posted = github.requests.find(
        (r) => r.method === 'POST' && r.path.endsWith('/comments'),
      );
      expect(String(posted?.headers.authorization)).toMatch(/^token ghs_/);
    } finally {
      await github.close();
    }
  });
});

describe('Slack sink (@slack/web-api against a fake Slack)', () => {
  let slack: FakeSlack;
  let sink: SlackSink;
  beforeAll(async () => {
    slack = await startFakeSlack({ channels: ['C1', 'C2'] });
    sink = new SlackSink({ token: SLACK_TOKEN, apiUrl: slack.apiUrl, timeoutMs: 5_000 });
  });
  afterAll(() => slack.close());

  it('posts a message carrying its key in metadata, and replies in a thread', async () => {
    const d = delivery('postMessage', { channel: 'C1', text: 'hello' });
    const posted = (await sink.deliver(d)) as { ts: string };
    expect(slack.messages.at(-1)?.metadata?.event_payload).toEqual({ agentd_key: d.key });
    await sink.deliver(
      delivery('postMessage', { channel: 'C1', text: 'reply', threadTs: posted.ts }),
    );
    expect(slack.messages.at(-1)).toMatchObject({ text: 'reply', thread_ts: posted.ts });
  });

  it('finds its own message on a resend instead of posting twice, in a channel or a thread', async () => {
    const d = delivery('postMessage', { channel: 'C2', text: 'once' });
    const first = (await sink.deliver(d)) as { ts: string };
    const again = (await sink.deliver({ ...d, mayHaveSent: true })) as {
      ts: string;
      found: boolean;
    };
    expect(again).toMatchObject({ ts: first.ts, found: true });
    const reply = delivery('postMessage', { channel: 'C2', text: 'in thread', threadTs: first.ts });
    await sink.deliver(reply);
    await sink.deliver({ ...reply, mayHaveSent: true });
    expect(slack.messages.filter((m) => m.channel === 'C2')).toHaveLength(2);
    expect(slack.calls('conversations.replies')).toHaveLength(1);
  });

  it('updates a message and adds a reaction, a second identical reaction being no error', async () => {
    const posted = (await sink.deliver(
      delivery('postMessage', { channel: 'C1', text: 'draft' }),
    )) as {
      ts: string;
    };
    await sink.deliver(delivery('updateMessage', { channel: 'C1', ts: posted.ts, text: 'final' }));
    await sink.deliver(delivery('addReaction', { channel: 'C1', ts: posted.ts, name: 'eyes' }));
    await sink.deliver(delivery('addReaction', { channel: 'C1', ts: posted.ts, name: 'eyes' }));
    expect(slack.messages.find((m) => m.ts === posted.ts)).toMatchObject({
      text: 'final',
      reactions: ['eyes'],
    });
  });

  it('waits as told on 429, retries 5xx, and does not retry channel_not_found', async () => {
    const post = () => sink.deliver(delivery('postMessage', { channel: 'C1', text: 'x' }));
    slack.fail({
      path: /chat\.postMessage/,
      method: 'POST',
      status: 429,
      headers: { 'retry-after': '3' },
    });
    expect(await failure(post())).toMatchObject({
      retryable: true,
      retryAfterMs: 3_000,
      status: 429,
    });
    slack.fail({ path: /chat\.postMessage/, method: 'POST', status: 503, body: 'unavailable' });
    expect(await failure(post())).toMatchObject({ retryable: true, status: 503 });
    const missing = await failure(
      sink.deliver(delivery('postMessage', { channel: 'C404', text: 'x' })),
    );
    expect(missing).toMatchObject({ retryable: false });
    expect(missing.body).toContain('channel_not_found');
  });
});

describe('HTTP sink (Standard Webhooks)', () => {
  let receiver: RecordingServer;
  const secret = `whsec_${Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')}`;
  beforeAll(async () => {
    receiver = await startRecordingServer(() => ({ status: 200, body: { ok: true } }));
  });
  afterAll(() => receiver.close());

  it('signs the body with the target secret, the idempotency key as webhook-id', async () => {
    const sink = new HttpSink(new Map([['billing', { url: `${receiver.url}/hook`, secret }]]));
    const d = delivery('post', { target: 'billing', body: { invoice: 7 } });
    await sink.deliver(d);
    const request = receiver.requests.at(-1);
    expect(request?.headers['webhook-id']).toBe(d.key);
    const headers = Object.fromEntries(
      Object.entries(request?.headers ?? {}).map(([k, v]) => [k, String(v)]),
    );
    expect(new Webhook(secret).verify(request?.text ?? '', headers)).toEqual({ invoice: 7 });
  });

  it('retries 5xx with its retry-after and dead-letters other 4xx with the body', async () => {
    const sink = new HttpSink(new Map([['t', { url: `${receiver.url}/hook` }]]));
    receiver.fail({ path: /\/hook/, status: 503, headers: { 'retry-after': '2' }, body: 'later' });
    expect(await failure(sink.deliver(delivery('post', { target: 't', body: 1 })))).toMatchObject({
      retryable: true,
      retryAfterMs: 2_000,
    });
    receiver.fail({ path: /\/hook/, status: 410, body: 'gone for good' });
    const gone = await failure(sink.deliver(delivery('post', { target: 't', body: 1 })));
    expect(gone).toMatchObject({ retryable: false, status: 410, body: 'gone for good' });
  });
});
