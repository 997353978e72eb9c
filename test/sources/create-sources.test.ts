// From config entries to sources: names, kinds, secrets read from the environment at start, and
// errors that name the bad field.
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../src/core/config.js';
import { createSources } from '../../src/sources/create-sources.js';
import { isHttpSource } from '../../src/sources/source.js';
import { log } from './webhook/webhook-harness.js';

const WHSEC = `whsec_${Buffer.from('create sources test key, 32 byte').toString('base64')}`;

function build(sources: unknown[], env: NodeJS.ProcessEnv = {}) {
  const config = validateConfig({ sources }, 'agentd.config.ts');
  return createSources(config.sources, { env, log, node: 'n' });
}

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected an error');
}

describe('createSources', () => {
  it('makes one HTTP source per webhook entry, named after its kind unless named', () => {
    const sources = build(
      [
        { kind: 'github', secret: 'gh' },
        { kind: 'slack', name: 'team-chat', signingSecret: { env: 'SLACK_SIGNING_SECRET' } },
        { kind: 'webhook', name: 'billing', secret: WHSEC, type: 'billing.{{type}}' },
      ],
      { SLACK_SIGNING_SECRET: 'from-env' },
    );
    expect(sources.map((s) => [s.kind, s.name])).toEqual([
      ['github', 'github'],
      ['slack', 'team-chat'],
      ['webhook', 'billing'],
    ]);
    expect(sources.every(isHttpSource)).toBe(true);
  });

  it('names the field and the variable when an { env } secret is not set', () => {
    expect(errorOf(() => build([{ kind: 'github', secret: { env: 'GH_HOOK_SECRET' } }]))).toBe(
      'sources[0].secret.env: the environment variable GH_HOOK_SECRET is not set (or empty)',
    );
    expect(
      errorOf(() =>
        build([{ kind: 'slack', signingSecret: ['literal', { env: 'NEXT_SECRET' }] }], {
          NEXT_SECRET: '',
        }),
      ),
    ).toMatch(/^sources\[0\]\.signingSecret\[1\]\.env: .*NEXT_SECRET/);
  });

  it('refuses a Standard Webhooks secret that is not whsec_<base64>, naming the field', () => {
    expect(errorOf(() => build([{ kind: 'webhook', secret: 'whsec_!!!' }]))).toMatch(
      /^sources\[0\]\.secret: expected a Standard Webhooks secret/,
    );
  });
});

describe('sources config', () => {
  const messageOf = (sources: unknown) => errorOf(() => validateConfig({ sources }, 'f.ts'));

  it('names the bad field of a source entry', () => {
    expect(messageOf([{ kind: 'gitlab' }])).toMatch(
      /^f\.ts: sources\[0\]\.kind: expected kind to be one of "github", "slack", "webhook"/,
    );
    expect(messageOf([{ kind: 'github' }])).toMatch(/sources\[0\]\.secret: expected a secret/);
    expect(messageOf([{ kind: 'github', secret: 'x', name: 'Has Space' }])).toMatch(
      /sources\[0\]\.name: expected 1-64 lower-case/,
    );
    expect(messageOf([{ kind: 'github', secret: 'x', sercet: 'y' }])).toMatch(/sercet/);
  });

  it('refuses two sources with one name', () => {
    expect(
      messageOf([
        { kind: 'github', secret: 'a' },
        { kind: 'github', secret: 'b' },
      ]),
    ).toMatch(/sources\[1\]\.name: "github" is already used by sources\[0\]/);
  });

  it('needs insecure: true, explicitly, for an unsigned generic webhook', () => {
    expect(messageOf([{ kind: 'webhook' }])).toMatch(
      /sources\[0\]\.secret: .*insecure: true, explicitly/,
    );
    expect(messageOf([{ kind: 'webhook', secret: WHSEC, insecure: true }])).toMatch(
      /sources\[0\]\.insecure: expected either secret or insecure: true, not both/,
    );
    expect(() =>
      validateConfig({ sources: [{ kind: 'webhook', insecure: true }] }, 'f'),
    ).not.toThrow();
  });

  it('checks a type template before any request arrives', () => {
    expect(messageOf([{ kind: 'webhook', insecure: true, type: 'billing {{type}}' }])).toMatch(
      /sources\[0\]\.type: expected dotted segments/,
    );
    expect(messageOf([{ kind: 'webhook', insecure: true, type: 'billing.{{type' }])).toMatch(
      /sources\[0\]\.type: expected placeholders/,
    );
  });
});

describe('server.auth config', () => {
  it('allows auth: false only on a loopback host', () => {
    for (const host of ['127.0.0.1', '::1', 'localhost', undefined])
      expect(() =>
        validateConfig({ server: { auth: false, ...(host === undefined ? {} : { host }) } }, 'f'),
      ).not.toThrow();
    expect(
      errorOf(() => validateConfig({ server: { auth: false, host: '0.0.0.0' } }, 'f')),
    ).toMatch(/server\.auth: false is only allowed when server\.host is a loopback address/);
  });
});
