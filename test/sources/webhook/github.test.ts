// GitHub webhooks: GitHub's signature test vector, real-shaped deliveries, rotation, dedup, and
// every forged, stale or broken request refused with the right status and nothing stored.
import { verify } from '@octokit/webhooks-methods';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GithubWebhookSource } from '../../../src/sources/webhook/github/github-webhook-source.js';
import {
  createHarness,
  fixture,
  githubHeaders,
  log,
  omit,
  post,
  type Harness,
} from './webhook-harness.js';

const SECRET = 'a-webhook-secret-for-tests';
const PULL_REQUEST = fixture('github/pull_request.opened.json');
const PUSH = fixture('github/push.json');

describe('GitHub webhook source', () => {
  let h: Harness;
  const source = (secrets = [SECRET], bodyLimitBytes?: number) =>
    new GithubWebhookSource({
      name: 'github',
      secrets,
      log,
      node: 'test-node',
      ...(bodyLimitBytes === undefined ? {} : { bodyLimitBytes }),
    });
  const deliver = (body: string, headers: Record<string, string>) =>
    post(h.app, '/hooks/github', body, headers);

  beforeEach(async () => {
    h = await createHarness([source()]);
  });
  afterEach(async () => {
    await h.close();
  });

  it("accepts GitHub's documented test vector and refuses it under another secret", async () => {
    const secret = "It's a Secret to Everybody";
    const payload = 'Hello, World!';
    const signature = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(await verify(secret, payload, signature)).toBe(true);

    await h.close();
    h = await createHarness([source([secret])]);
    const headers = {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': 'vector-1',
      'x-hub-signature-256': signature,
    };
    // The signature verifies; the body then fails as JSON, which is 400, not 401.
    const res = await deliver(payload, headers);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ reason: 'malformed-json' });

    await h.close();
    h = await createHarness([source(['not the secret'])]);
    expect((await deliver(payload, headers)).status).toBe(401);
    expect(h.stored()).toHaveLength(0);
  });

  it('stores a pull_request.opened delivery as github.pull_request.opened, 202 once durable', async () => {
    const res = await deliver(
      PULL_REQUEST,
      githubHeaders(PULL_REQUEST, SECRET, 'pull_request', '72d3162e-cc78-11e3-81ab-4c9367dc0958'),
    );
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({
      accepted: [
        { id: '72d3162e-cc78-11e3-81ab-4c9367dc0958', source: 'github:github', duplicate: false },
      ],
    });
    const [event] = h.stored();
    expect(event).toMatchObject({
      id: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
      source: 'github:github',
      type: 'github.pull_request.opened',
      subject: 'acme/widgets',
      partitionkey: 'acme/widgets#42',
      dataschema: 'agentd:github.pull_request.opened/v1',
      trust: 'external',
      origin: 'test-node',
      depth: 0,
    });
    expect(event?.data).toEqual(JSON.parse(PULL_REQUEST));
  });

  it('stores a push as github.push keyed by the repository', async () => {
    const res = await deliver(PUSH, githubHeaders(PUSH, SECRET, 'push', 'push-delivery-1'));
    expect(res.status).toBe(202);
    expect(h.stored()[0]).toMatchObject({
      type: 'github.push',
      subject: 'acme/widgets',
      partitionkey: 'acme/widgets',
      dataschema: 'agentd:github.push/v1',
      trust: 'external',
    });
  });

  it('stores the same delivery sent twice once, answering the second as a duplicate', async () => {
    const headers = githubHeaders(PUSH, SECRET, 'push', 'redelivered-1');
    expect((await deliver(PUSH, headers)).status).toBe(202);
    const again = await deliver(PUSH, headers);
    expect(again.status).toBe(202);
    expect(await again.json()).toMatchObject({ accepted: [{ duplicate: true }] });
    expect(h.stored()).toHaveLength(1);
  });

  it('answers ping with 200 and stores nothing', async () => {
    const ping = fixture('github/ping.json');
    const res = await deliver(ping, githubHeaders(ping, SECRET, 'ping', 'ping-1'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ pong: true });
    expect(h.stored()).toHaveLength(0);
  });

  it('accepts every secret listed during a rotation and no other', async () => {
    await h.close();
    h = await createHarness([source(['the-new-secret', 'the-old-secret'])]);
    for (const [i, secret] of ['the-new-secret', 'the-old-secret'].entries())
      expect((await deliver(PUSH, githubHeaders(PUSH, secret, 'push', `rot-${i}`))).status).toBe(
        202,
      );
    expect((await deliver(PUSH, githubHeaders(PUSH, 'retired', 'push', 'rot-x'))).status).toBe(401);
    expect(
      h
        .stored()
        .map((e) => e.id)
        .sort(),
    ).toEqual(['rot-0', 'rot-1']);
  });

  it('refuses forged, foreign, missing and malformed signatures with 401, storing nothing', async () => {
    const good = githubHeaders(PUSH, SECRET, 'push', 'forged-1');
    const forged = {
      ...good,
      'x-hub-signature-256': githubHeaders('{}', SECRET, 'push', 'x')['x-hub-signature-256']!,
    };
    const wrongSecret = githubHeaders(PUSH, 'someone-elses-secret', 'push', 'forged-2');
    const unsigned = omit(good, 'x-hub-signature-256');
    const sha1 = {
      ...good,
      'x-hub-signature-256': 'sha1=0123456789abcdef0123456789abcdef01234567',
    };
    const upper = { ...good, 'x-hub-signature-256': good['x-hub-signature-256']!.toUpperCase() };
    for (const headers of [forged, wrongSecret, unsigned, sha1, upper]) {
      const res = await deliver(PUSH, headers);
      expect(res.status).toBe(401);
    }
    expect(h.stored()).toHaveLength(0);
    expect(h.rejects.forSource('github')).toEqual({ 'bad-signature': 4, 'missing-signature': 1 });
  });

  it('refuses a truncated body (401) and an oversized one (413), storing nothing', async () => {
    const headers = githubHeaders(PULL_REQUEST, SECRET, 'pull_request', 'cut-1');
    expect((await deliver(PULL_REQUEST.slice(0, 500), headers)).status).toBe(401);
    await h.close();
    h = await createHarness([source([SECRET], 1_024)]);
    expect((await deliver(PULL_REQUEST, headers)).status).toBe(413);
    expect(h.stored()).toHaveLength(0);
    expect(h.rejects.forSource('github')).toEqual({ 'body-too-large': 1 });
  });

  it('refuses a form-encoded delivery with 415 naming application/json', async () => {
    const body = `payload=${encodeURIComponent(PUSH)}`;
    const res = await deliver(body, {
      ...githubHeaders(body, SECRET, 'push', 'form-1'),
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { error: string }).error).toContain('application/json');
  });

  it('answers 400 for signed bodies that are not JSON objects or lack the delivery header', async () => {
    for (const body of ['{"action":', '[1,2]']) {
      const res = await deliver(body, githubHeaders(body, SECRET, 'push', 'bad-json'));
      expect(res.status).toBe(400);
    }
    const noDelivery = omit(githubHeaders(PUSH, SECRET, 'push', 'x'), 'x-github-delivery');
    expect((await deliver(PUSH, noDelivery)).status).toBe(400);
    const badEvent = { ...githubHeaders(PUSH, SECRET, 'push', 'y'), 'x-github-event': 'push.*' };
    expect((await deliver(PUSH, badEvent)).status).toBe(400);
    expect(h.stored()).toHaveLength(0);
  });
});
