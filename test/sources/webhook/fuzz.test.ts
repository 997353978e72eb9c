// Property: random bytes and random headers thrown at every webhook endpoint never crash the
// server, never get a 5xx, and never store an event that did not pass verification.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GithubWebhookSource } from '../../../src/sources/webhook/github/github-webhook-source.js';
import { SlackWebhookSource } from '../../../src/sources/webhook/slack/slack-webhook-source.js';
import {
  StandardWebhookSource,
  standardVerifiers,
} from '../../../src/sources/webhook/standard/standard-webhook-source.js';
import {
  createHarness,
  githubHeaders,
  log,
  slackHeaders,
  standardHeaders,
  type Harness,
} from './webhook-harness.js';

const GITHUB_SECRET = 'fuzz-github-secret';
const SLACK_SECRET = 'fuzz-slack-secret';
const STANDARD_SECRET = `whsec_${Buffer.from('fuzzing standard webhooks secret').toString('base64')}`;
const SIGNED = ['/hooks/gh', '/hooks/chat', '/hooks/std'] as const;
const INSECURE = '/hooks/open';

const printable = fc
  .string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) })
  .map((value) => value.trim());

const headerName = fc.constantFrom(
  'content-type',
  'content-length',
  'x-hub-signature-256',
  'x-github-event',
  'x-github-delivery',
  'x-slack-signature',
  'x-slack-request-timestamp',
  'x-slack-retry-num',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'authorization',
  'x-random',
);

const contentType = fc.oneof(
  fc.constant('application/json'),
  fc.constant('application/json; charset=utf-8'),
  fc.constant('application/x-www-form-urlencoded'),
  printable,
);

const body = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }),
  fc.json().map((text) => new TextEncoder().encode(text)),
  fc
    .record({ type: printable, event_id: printable, event: fc.record({ type: printable }) })
    .map((value) => new TextEncoder().encode(JSON.stringify(value))),
);

/** Headers a real sender would compute for these bytes, so some requests do verify. */
function signedHeaders(path: (typeof SIGNED)[number], bytes: Uint8Array): Record<string, string> {
  const text = new TextDecoder().decode(bytes);
  if (path === '/hooks/gh') return githubHeaders(text, GITHUB_SECRET, 'push', `d-${text.length}`);
  if (path === '/hooks/chat') return slackHeaders(text, SLACK_SECRET);
  return standardHeaders(text, STANDARD_SECRET, `m-${text.length}`);
}

describe('every webhook endpoint under random input', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness(
      [
        new GithubWebhookSource({ name: 'gh', secrets: [GITHUB_SECRET], log }),
        new SlackWebhookSource({ name: 'chat', signingSecrets: [SLACK_SECRET], log }),
        new StandardWebhookSource({
          name: 'std',
          verifiers: standardVerifiers([STANDARD_SECRET], 'secret'),
          insecure: false,
          type: 'std.{{type}}',
          key: '{{event.type}}',
          log,
        }),
        new StandardWebhookSource({
          name: 'open',
          verifiers: [],
          insecure: true,
          type: 'open.{{type}}',
          log,
        }),
      ],
      { bodyLimitBytes: 2048 },
    );
  });
  afterAll(async () => {
    await h.close();
  });

  it('never answers 5xx and stores only what verified', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...SIGNED, INSECURE, '/hooks/missing', '/hooks/GH'),
        fc.constantFrom('POST', 'POST', 'POST', 'GET', 'PUT'),
        body,
        fc.dictionary(headerName, printable, { maxKeys: 8 }),
        contentType,
        fc.boolean(),
        async (path, method, bytes, randomHeaders, type, sign) => {
          const signs = sign && (SIGNED as readonly string[]).includes(path);
          const headers = {
            ...randomHeaders,
            'content-type': type,
            ...(signs ? signedHeaders(path as (typeof SIGNED)[number], bytes) : {}),
          };
          const before = h.stored().length;
          const res = await h.app.request(path, {
            method,
            headers,
            ...(method === 'GET' ? {} : { body: bytes }),
          });
          expect(res.status).toBeLessThan(500);
          await res.arrayBuffer();
          const added = h.stored().length - before;
          if (added > 0) {
            expect(signs || path === INSECURE).toBe(true);
            expect(res.status).toBeGreaterThanOrEqual(200);
            expect(res.status).toBeLessThan(300);
          }
        },
      ),
      { numRuns: 600 },
    );
    // Some signed requests did get through, so the property tested both sides.
    expect(h.stored().some((e) => e.source !== 'webhook:open')).toBe(true);
  });
});
