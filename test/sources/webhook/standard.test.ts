// Generic Standard Webhooks: signed deliveries named by a type template, dedup on webhook-id, the
// replay window, and unsigned endpoints only with insecure: true.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/observe/log.js';
import {
  StandardWebhookSource,
  standardVerifiers,
  type StandardWebhookSourceOptions,
} from '../../../src/sources/webhook/standard/standard-webhook-source.js';
import {
  createHarness,
  log,
  omit,
  post,
  standardHeaders,
  type Harness,
} from './webhook-harness.js';

const SECRET = `whsec_${Buffer.from('a standard webhooks test key 32b').toString('base64')}`;
const OLD_SECRET = `whsec_${Buffer.from('the previous standard webhooks k').toString('base64')}`;
const INVOICE = JSON.stringify({
  type: 'invoice.paid',
  timestamp: '2026-11-25T14:31:09Z',
  data: { customer: 'cus_0042', amount: 1999 },
});

function source(options: Partial<StandardWebhookSourceOptions> = {}): StandardWebhookSource {
  return new StandardWebhookSource({
    name: 'billing',
    verifiers: standardVerifiers([SECRET], 'sources[0].secret'),
    insecure: false,
    type: 'billing.{{type}}',
    key: '{{data.customer}}',
    dataschema: 'agentd:billing/v1',
    log,
    ...options,
  });
}

describe('Standard Webhooks source', () => {
  let h: Harness | undefined;
  const send = (body: string, headers: Record<string, string>) =>
    post(h!.app, '/hooks/billing', body, headers);
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('stores a signed delivery under its templated type with webhook-id as the id', async () => {
    h = await createHarness([source()]);
    const at = new Date();
    const res = await send(INVOICE, standardHeaders(INVOICE, SECRET, 'msg_2Kc8Xb1', at));
    expect(res.status).toBe(202);
    expect(h.stored()[0]).toMatchObject({
      id: 'msg_2Kc8Xb1',
      source: 'webhook:billing',
      type: 'billing.invoice.paid',
      partitionkey: 'cus_0042',
      dataschema: 'agentd:billing/v1',
      time: new Date(Math.floor(at.getTime() / 1000) * 1000).toISOString(),
      trust: 'external',
      data: JSON.parse(INVOICE) as unknown,
    });
  });

  it('sanitizes what the body puts into the type and fills missing fields with "unknown"', async () => {
    h = await createHarness([source()]);
    const hostile = JSON.stringify({ type: '../etc/passwd **', data: {} });
    const untyped = JSON.stringify({ data: { customer: 7 } });
    expect((await send(hostile, standardHeaders(hostile, SECRET, 'm1'))).status).toBe(202);
    expect((await send(untyped, standardHeaders(untyped, SECRET, 'm2'))).status).toBe(202);
    const byId = Object.fromEntries(h.stored().map((e) => [e.id, e]));
    expect(byId.m1?.type).toBe('billing._etc_passwd___');
    expect(byId.m1?.partitionkey).toBeUndefined();
    expect(byId.m2).toMatchObject({ type: 'billing.unknown', partitionkey: '7' });
  });

  it('stores the same webhook-id once', async () => {
    h = await createHarness([source()]);
    const headers = standardHeaders(INVOICE, SECRET, 'msg_same');
    expect((await send(INVOICE, headers)).status).toBe(202);
    expect(await (await send(INVOICE, headers)).json()).toMatchObject({
      accepted: [{ duplicate: true }],
    });
    expect(h.stored()).toHaveLength(1);
  });

  it('refuses wrong secrets, forged and stale signatures and missing headers with 401', async () => {
    h = await createHarness([source()]);
    const other = `whsec_${Buffer.from('somebody else entirely, 32 bytes').toString('base64')}`;
    const good = standardHeaders(INVOICE, SECRET, 'msg_1');
    const stale = standardHeaders(INVOICE, SECRET, 'msg_1', new Date(Date.now() - 10 * 60_000));
    const unsigned = omit(good, 'webhook-signature');
    const cases: [Record<string, string>, string][] = [
      [standardHeaders(INVOICE, other, 'msg_1'), 'bad-signature'],
      [{ ...good, 'webhook-id': 'msg_2' }, 'bad-signature'],
      [stale, 'stale-timestamp'],
      [unsigned, 'missing-signature'],
    ];
    for (const [headers, reason] of cases) {
      const res = await send(INVOICE, headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ reason });
    }
    expect((await send(INVOICE.slice(0, 40), good)).status).toBe(401);
    expect(h.stored()).toHaveLength(0);
  });

  it('accepts any of several secrets while rotating', async () => {
    h = await createHarness([
      source({ verifiers: standardVerifiers([SECRET, OLD_SECRET], 'sources[0].secret') }),
    ]);
    expect((await send(INVOICE, standardHeaders(INVOICE, OLD_SECRET, 'a'))).status).toBe(202);
    expect((await send(INVOICE, standardHeaders(INVOICE, SECRET, 'b'))).status).toBe(202);
    expect(h.stored()).toHaveLength(2);
  });

  it('accepts unsigned requests only when insecure, and warns about it at start', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const warned = createLogger({ level: 'warn', destination: sink, pretty: false });
    h = await createHarness([
      new StandardWebhookSource({
        name: 'billing',
        verifiers: [],
        insecure: true,
        type: 'billing.{{type}}',
        log: warned,
      }),
    ]);
    expect(lines.join('')).toContain('insecure');
    const res = await send(INVOICE, { 'content-type': 'application/json', 'webhook-id': 'u1' });
    expect(res.status).toBe(202);
    expect(h.stored()[0]).toMatchObject({
      id: 'u1',
      type: 'billing.invoice.paid',
      trust: 'external',
    });
    expect((await send('not json', { 'content-type': 'application/json' })).status).toBe(400);
  });

  it('refuses to build an endpoint without a secret unless insecure', () => {
    expect(() => source({ verifiers: [] })).toThrow(/needs a secret or insecure: true/);
  });
});
