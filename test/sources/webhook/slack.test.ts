// Slack Events API: url_verification, event callbacks, Slack's retries as duplicates, the replay
// window, and forged or broken requests refused with nothing stored.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SlackWebhookSource } from '../../../src/sources/webhook/slack/slack-webhook-source.js';
import {
  createHarness,
  fixture,
  log,
  post,
  slackHeaders,
  type Harness,
} from './webhook-harness.js';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const CALLBACK = fixture('slack/event_callback.app_mention.json');
const VERIFICATION = fixture('slack/url_verification.json');

describe('Slack events source', () => {
  let h: Harness;
  const source = (secrets = [SECRET], bodyLimitBytes?: number) =>
    new SlackWebhookSource({
      name: 'slack',
      signingSecrets: secrets,
      log,
      ...(bodyLimitBytes === undefined ? {} : { bodyLimitBytes }),
    });
  const send = (body: string, headers: Record<string, string>) =>
    post(h.app, '/hooks/slack', body, headers);

  beforeEach(async () => {
    h = await createHarness([source()]);
  });
  afterEach(async () => {
    await h.close();
  });

  it('answers url_verification with its challenge and stores nothing', async () => {
    const res = await send(VERIFICATION, slackHeaders(VERIFICATION, SECRET));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
    });
    expect(h.stored()).toHaveLength(0);
  });

  it('stores an event_callback as slack.<event.type> keyed by channel, 200 once durable', async () => {
    const res = await send(CALLBACK, slackHeaders(CALLBACK, SECRET));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      accepted: [{ id: 'Ev0AGENTD42X', source: 'slack:slack', duplicate: false }],
    });
    const [event] = h.stored();
    expect(event).toMatchObject({
      id: 'Ev0AGENTD42X',
      source: 'slack:slack',
      type: 'slack.app_mention',
      subject: 'C0REVIEWS1',
      partitionkey: 'C0REVIEWS1',
      dataschema: 'agentd:slack.app_mention/v1',
      time: new Date(1764081069 * 1000).toISOString(),
      trust: 'external',
    });
    expect(event?.data).toEqual(JSON.parse(CALLBACK));
  });

  it("answers Slack's retry of a stored event 200 as a duplicate and stores it once", async () => {
    expect((await send(CALLBACK, slackHeaders(CALLBACK, SECRET))).status).toBe(200);
    const retry = await send(CALLBACK, {
      ...slackHeaders(CALLBACK, SECRET),
      'x-slack-retry-num': '1',
      'x-slack-retry-reason': 'http_timeout',
    });
    expect(retry.status).toBe(200);
    expect(await retry.json()).toMatchObject({ accepted: [{ duplicate: true }] });
    expect(h.stored()).toHaveLength(1);
  });

  it('stores a retry whose first attempt never arrived', async () => {
    const res = await send(CALLBACK, {
      ...slackHeaders(CALLBACK, SECRET),
      'x-slack-retry-num': '2',
    });
    expect(await res.json()).toMatchObject({ accepted: [{ duplicate: false }] });
    expect(h.stored()).toHaveLength(1);
  });

  it('refuses timestamps outside the 5-minute window even when correctly signed', async () => {
    const now = Math.floor(Date.now() / 1000);
    for (const timestamp of [now - 6 * 60, now + 6 * 60]) {
      const res = await send(CALLBACK, slackHeaders(CALLBACK, SECRET, timestamp));
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ reason: 'stale-timestamp' });
    }
    expect((await send(CALLBACK, slackHeaders(CALLBACK, SECRET, now - 4 * 60))).status).toBe(200);
    expect(h.stored()).toHaveLength(1);
  });

  it('refuses forged signatures, wrong secrets and missing headers with 401', async () => {
    const good = slackHeaders(CALLBACK, SECRET);
    const cases = [
      slackHeaders(CALLBACK, 'not-the-signing-secret'),
      { ...good, 'x-slack-signature': slackHeaders('{}', SECRET)['x-slack-signature']! },
      { ...good, 'x-slack-signature': 'v0=zz' },
      { ...good, 'x-slack-request-timestamp': 'yesterday' },
      { 'content-type': 'application/json' },
    ];
    for (const headers of cases) expect((await send(CALLBACK, headers)).status).toBe(401);
    expect(h.stored()).toHaveLength(0);
    expect(h.rejects.forSource('slack')).toEqual({ 'bad-signature': 4, 'missing-signature': 1 });
  });

  it('accepts the old and the new signing secret while rotating', async () => {
    await h.close();
    h = await createHarness([source(['new-signing-secret', SECRET])]);
    expect((await send(CALLBACK, slackHeaders(CALLBACK, SECRET))).status).toBe(200);
    const other = CALLBACK.replace('Ev0AGENTD42X', 'Ev0AGENTD43Y');
    expect((await send(other, slackHeaders(other, 'new-signing-secret'))).status).toBe(200);
    expect(h.stored()).toHaveLength(2);
  });

  it('refuses a truncated body (401) and an oversized one (413)', async () => {
    const headers = slackHeaders(CALLBACK, SECRET);
    expect((await send(CALLBACK.slice(0, CALLBACK.length - 10), headers)).status).toBe(401);
    await h.close();
    h = await createHarness([source([SECRET], 512)]);
    expect((await send(CALLBACK, headers)).status).toBe(413);
    expect(h.stored()).toHaveLength(0);
  });

  it('answers 400 for a signed callback without event_id, and 200 for app_rate_limited', async () => {
    const noId = JSON.stringify({ type: 'event_callback', event: { type: 'message' } });
    expect((await send(noId, slackHeaders(noId, SECRET))).status).toBe(400);
    const limited = JSON.stringify({ type: 'app_rate_limited', minute_rate_limited: 1518467820 });
    expect((await send(limited, slackHeaders(limited, SECRET))).status).toBe(200);
    expect(h.stored()).toHaveLength(0);
  });
});
