// Provider limits and circuit breakers with the real Anthropic and OpenAI SDKs against the fake
// model server: repeated 5xx open the provider's circuit (no more requests sent, the event
// published), one trial after the cool-down closes it; a 429 or a per-minute limit met by one
// route's agent holds another route's agent of the same provider. The clock is a manual one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { agent } from '../../src/agents/agent.js';
import type { AgentHandler, AgentResult } from '../../src/agents/agent-definition.js';
import { rateLimitResetMs, rateLimitWaitMs } from '../../src/agents/provider-headers.js';
import type { ProviderOptions } from '../../src/agents/provider-options.js';
import { unusedProviderLimits } from '../../src/agents/startup-check.js';
import { startDaemon } from '../../src/app.js';
import type { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { SqliteInspector } from '../../src/bus/sqlite/inspect-sql.js';
import { validateConfig } from '../../src/core/config.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';
import { on } from '../../src/core/route.js';
import type { InProcessProviderLimiter } from '../../src/governor/provider-limiter.js';
import { circuitStates } from '../../src/governor/provider-limiter-registry.js';
import {
  startProviderGovernance,
  type ProviderGovernance,
} from '../../src/governor/provider-limiter-setup.js';
import { FAKE_KEY, startFakeLlmServer, type FakeLlmServer } from '../fixtures/fake-llm-server.js';
import { ManualClock } from '../fixtures/manual-clock.js';
import { log, openLocalBus, type LocalBus } from '../sources/local-bus.js';
import { memoryRun, operatorEvent } from './memory-context.js';

const NAME = 'fake-llm';
const T0 = Date.parse('2025-03-14T12:00:00.000Z');

interface Flavour {
  api: 'anthropic' | 'openai';
  provider(server: FakeLlmServer, extra: object): ProviderOptions;
}

const FLAVOURS: Flavour[] = [
  {
    api: 'anthropic',
    provider: (s, extra) => ({
      kind: 'anthropic',
      name: NAME,
      baseURL: s.anthropicURL,
      apiKey: FAKE_KEY,
      ...extra,
    }),
  },
  {
    api: 'openai',
    provider: (s, extra) => ({
      kind: 'openai',
      name: NAME,
      baseURL: s.openaiURL,
      apiKey: FAKE_KEY,
      ...extra,
    }),
  },
];

function run(handler: AgentHandler, options: { signal?: AbortSignal } = {}): Promise<AgentResult> {
  const event: AgentdEvent = operatorEvent('demo.ask', { question: 'status?' });
  return handler(event, memoryRun(event).attempt(options).ctx);
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.each(FLAVOURS)('provider governor: $api', (flavour) => {
  let server: FakeLlmServer;
  let bus: LocalBus;
  let clock: ManualClock;
  let governance: ProviderGovernance;

  const start = (governor: Parameters<typeof startProviderGovernance>[0]) => {
    governance = startProviderGovernance(governor, {
      publish: (events) => bus.bus.publish(events),
      source: 'agentd://test',
      origin: 'test',
      log,
      clock,
    });
  };
  const make = (name: string, extra: object = {}) =>
    agent({
      name,
      provider: flavour.provider(server, { maxRetries: 4, ...extra }),
      model: 'test-model',
      prompt: 'Answer briefly.',
      maxOutputTokens: 100,
    });
  const limiter = () => governance.providers.limiter(NAME) as InProcessProviderLimiter;

  beforeAll(async () => {
    server = await startFakeLlmServer();
  });
  afterAll(() => server.close());
  beforeEach(() => {
    server.requests.length = 0;
    server.script = () => ({ text: 'ok' });
    bus = openLocalBus();
    clock = new ManualClock(T0);
  });
  afterEach(async () => {
    await governance.stop();
    await bus.close();
  });

  it('opens the circuit after repeated 5xx: no further requests, agentd.circuit.opened, one trial closes it', async () => {
    start({ circuit: { failures: 3, coolDownMs: 30_000 } });
    // retry-after-ms 0: the in-process retries go at once, without a wait on the manual clock.
    server.script = () => ({ status: 500, headers: { 'retry-after-ms': '0' } });
    const review = make('reviewer');

    // Three failures of the run's own retries open it; the fourth retry is never sent.
    await expect(run(review)).rejects.toMatchObject({
      code: 'CIRCUIT_OPEN',
      retryable: true,
      retryAfterMs: 30_000,
    });
    expect(server.requests).toHaveLength(3);
    await clock.advanceBy(10_000);
    await expect(run(make('summarizer'))).rejects.toMatchObject({
      code: 'CIRCUIT_OPEN',
      retryAfterMs: 20_000,
    });
    expect(server.requests).toHaveLength(3);
    await until(() => bus.stored('agentd.circuit.').length === 1, 'agentd.circuit.opened');
    const [opened] = bus.stored('agentd.circuit.');
    expect(opened).toMatchObject({
      type: 'agentd.circuit.opened',
      trust: 'internal',
      source: 'agentd://test',
      data: { kind: 'provider', name: NAME, failures: 3, coolDownMs: 30_000 },
    });
    expect((opened?.data as { lastError: string }).lastError).toContain('500');
    expect(circuitStates()).toEqual([
      expect.objectContaining({
        kind: 'provider',
        name: NAME,
        state: 'open',
        until: '2025-03-14T12:00:30.000Z',
      }),
    ]);

    await clock.advanceBy(20_000);
    server.script = () => ({ text: 'back' });
    const result = await run(review);
    expect(result.text).toBe('back');
    expect(server.requests).toHaveLength(4);
    await until(() => bus.stored('agentd.circuit.').length === 2, 'agentd.circuit.closed');
    expect(bus.stored('agentd.circuit.')[1]).toMatchObject({
      type: 'agentd.circuit.closed',
      data: { kind: 'provider', name: NAME, failures: 3 },
    });
    expect(circuitStates()).toEqual([
      { kind: 'provider', name: NAME, state: 'closed', failures: 0 },
    ]);
  });

  it('reopens when the trial fails, and lets only the trial through', async () => {
    start({ circuit: { failures: 1, coolDownMs: 5_000 } });
    server.script = () => ({ status: 503 });
    await expect(run(make('a'))).rejects.toMatchObject({ code: 'CIRCUIT_OPEN' });
    await clock.advanceBy(5_000);
    // The trial fails: open again for a fresh cool-down.
    await expect(run(make('a'))).rejects.toMatchObject({
      code: 'CIRCUIT_OPEN',
      retryAfterMs: 5_000,
    });
    expect(server.requests).toHaveLength(2);
    await until(() => bus.stored('agentd.circuit.opened').length === 2, 'two openings');
  });

  it('does not count 4xx answers: the request was wrong, not the provider', async () => {
    start({ circuit: { failures: 2, coolDownMs: 5_000 } });
    server.script = () => ({ status: 400, message: 'bad request' });
    for (let i = 0; i < 4; i++)
      await expect(run(make('a'))).rejects.toMatchObject({
        name: 'ProviderError',
        retryable: false,
        status: 400,
      });
    expect(server.requests).toHaveLength(4);
    expect(circuitStates()).toEqual([
      { kind: 'provider', name: NAME, state: 'closed', failures: 0 },
    ]);
  });

  it('holds another route’s agent of the same provider while a 429’s retry-after runs', async () => {
    start({});
    let advanced = false;
    const arrivedAfter: boolean[] = [];
    server.onRequest = () => arrivedAfter.push(advanced);
    let calls = 0;
    server.script = () =>
      ++calls === 1
        ? { status: 429, headers: { 'retry-after-ms': '20000' }, message: 'slow down' }
        : { text: 'ok' };
    const first = run(make('route-a'));
    await until(() => limiter().pausedUntil() === T0 + 20_000, 'the pause');
    const second = run(make('route-b'));
    await until(() => limiter().waiting === 1, 'route-b waiting for the provider');
    expect(server.requests).toHaveLength(1);
    advanced = true;
    await clock.advanceBy(20_000);
    const results = await Promise.all([first, second]);
    expect(results.map((r) => r.text)).toEqual(['ok', 'ok']);
    expect(arrivedAfter).toEqual([false, true, true]);
    server.onRequest = undefined;
  });

  it('hands a pause longer than maxRetryWaitMs back to the bus without sending', async () => {
    start({});
    server.script = () => ({ status: 429, headers: { 'retry-after-ms': '120000' } });
    await expect(run(make('route-a'))).rejects.toMatchObject({
      name: 'ProviderError',
      retryable: true,
      retryAfterMs: 120_000,
    });
    expect(server.requests).toHaveLength(1);
    await clock.advanceBy(30_000);
    await expect(run(make('route-b'))).rejects.toMatchObject({
      name: 'ProviderError',
      status: 429,
      retryable: true,
      retryAfterMs: 90_000,
    });
    expect(server.requests).toHaveLength(1);
  });

  it('reads a 429’s wait from the exhausted limit’s reset when there is no retry-after', async () => {
    start({});
    server.script = () => ({
      status: 429,
      headers: {
        'x-ratelimit-remaining-requests': '12',
        'x-ratelimit-reset-requests': '1s',
        'x-ratelimit-remaining-tokens': '0',
        'x-ratelimit-reset-tokens': '1m30s',
      },
    });
    await expect(run(make('route-a'))).rejects.toMatchObject({
      status: 429,
      retryable: true,
      retryAfterMs: 90_000,
    });
    expect(limiter().pausedUntil()).toBe(T0 + 90_000);
  });

  it('shares requestsPerMinute between routes: the second call waits for the refill', async () => {
    start({ providers: { [NAME]: { requestsPerMinute: 1 } } });
    expect((await run(make('route-a'))).text).toBe('ok');
    const second = run(make('route-b'));
    await until(() => limiter().waiting === 1, 'route-b waiting');
    await clock.advanceBy(59_000);
    expect(server.requests).toHaveLength(1);
    await clock.advanceBy(1_000);
    expect((await second).text).toBe('ok');
    expect(server.requests).toHaveLength(2);
  });

  it('ends a wait for the provider when the run is aborted, sending nothing', async () => {
    start({ providers: { [NAME]: { requestsPerMinute: 1 } } });
    await run(make('route-a'));
    const controller = new AbortController();
    const waiting = run(make('route-b'), { signal: controller.signal });
    await until(() => limiter().waiting === 1, 'route-b waiting');
    controller.abort(new Error('cancelled by a newer push'));
    await expect(waiting).rejects.toThrow('cancelled by a newer push');
    expect(limiter().waiting).toBe(0);
    expect(server.requests).toHaveLength(1);
  });
});

describe('rate-limit headers', () => {
  const now = Date.parse('2025-03-14T12:00:00.000Z');
  const headers = (fields: Record<string, string>) => new Headers(fields);

  it('prefers retry-after-ms, then retry-after in seconds or as a date', () => {
    expect(rateLimitWaitMs(headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(
      250,
    );
    expect(rateLimitWaitMs(headers({ 'retry-after': '2' }), now)).toBe(2_000);
    expect(rateLimitWaitMs(headers({ 'retry-after': 'Fri, 14 Mar 2025 12:00:07 GMT' }), now)).toBe(
      7_000,
    );
  });

  it('takes the latest reset among the limits reported exhausted', () => {
    expect(
      rateLimitResetMs(
        headers({
          'anthropic-ratelimit-requests-remaining': '0',
          'anthropic-ratelimit-requests-reset': '2025-03-14T12:00:05Z',
          'anthropic-ratelimit-input-tokens-remaining': '0',
          'anthropic-ratelimit-input-tokens-reset': '2025-03-14T12:00:20Z',
          'anthropic-ratelimit-output-tokens-remaining': '1000',
          'anthropic-ratelimit-output-tokens-reset': '2025-03-14T12:00:59Z',
        }),
        now,
      ),
    ).toBe(20_000);
    expect(
      rateLimitResetMs(
        headers({
          'x-ratelimit-remaining-requests': '0',
          'x-ratelimit-reset-requests': '1h2m3.5s',
        }),
        now,
      ),
    ).toBe(3_723_500);
    expect(
      rateLimitResetMs(
        headers({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '20ms' }),
        now,
      ),
    ).toBe(20);
  });

  it('guesses nothing when no exhausted limit names a readable reset', () => {
    expect(
      rateLimitResetMs(
        headers({ 'x-ratelimit-remaining-tokens': '5', 'x-ratelimit-reset-tokens': '6m0s' }),
        now,
      ),
    ).toBeUndefined();
    expect(
      rateLimitResetMs(
        headers({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': 'soon' }),
        now,
      ),
    ).toBeUndefined();
    expect(rateLimitWaitMs(undefined, now)).toBeUndefined();
  });
});

describe('provider names', () => {
  it('warns about governor.providers entries no agent calls', () => {
    const routes = [
      on('demo.a', {
        handler: agent({ provider: 'anthropic', model: 'm' }),
      }),
      on('demo.b', {
        handler: agent({
          provider: { kind: 'openai', baseURL: 'http://127.0.0.1:11434/v1' },
          model: 'm',
          tools: {
            agents: {
              helper: agent({ provider: { kind: 'anthropic', name: 'proxy' }, model: 'm' }),
            },
          },
        }),
      }),
      on('demo.c', { handler: () => undefined }),
    ];
    expect(unusedProviderLimits(routes, ['anthropic', '127.0.0.1:11434', 'proxy'])).toEqual([]);
    expect(unusedProviderLimits(routes, ['antropic'])).toEqual([
      'governor.providers.antropic: no agent calls a provider named "antropic" (known: 127.0.0.1:11434, anthropic, proxy); set the provider\'s name option or fix the key',
    ]);
  });
});

describe('the daemon', () => {
  it('installs the breakers at start, publishes their events through the contract gate, and removes them at stop', async () => {
    const server = await startFakeLlmServer(() => ({
      status: 502,
      headers: { 'retry-after-ms': '0' },
    }));
    const dir = mkdtempSync(join(tmpdir(), 'agentd-provider-daemon-'));
    const config = validateConfig(
      {
        governor: {
          circuit: { failures: 2, coolDownMs: 600_000 },
          providers: { [NAME]: { requestsPerMinute: 600 } },
        },
        routes: [
          on('demo.ask', {
            name: 'ask',
            handler: agent({
              provider: { kind: 'openai', name: NAME, baseURL: server.openaiURL, apiKey: FAKE_KEY },
              model: 'test-model',
              prompt: 'Answer.',
            }),
          }),
        ],
      },
      'test',
    );
    const daemon = await startDaemon({ config, dataDir: dir, log, port: 0 });
    try {
      await daemon.bus.publish([
        toEvent({ type: 'demo.ask', data: {} }, { source: 'test', trust: 'operator' }),
      ]);
      const inspector = new SqliteInspector((daemon.bus as SqliteBus).db);
      const opened = () =>
        inspector
          .events({ limit: 100 })
          .map((row) => row.event)
          .filter((event) => event.type === 'agentd.circuit.opened');
      await until(() => opened().length === 1, 'agentd.circuit.opened from the daemon');
      expect(opened()[0]).toMatchObject({
        trust: 'internal',
        subject: `provider/${NAME}`,
        data: { kind: 'provider', name: NAME, failures: 2, coolDownMs: 600_000 },
      });
      expect(server.requests).toHaveLength(2);
      expect(circuitStates()).toEqual([
        expect.objectContaining({ kind: 'provider', name: NAME, state: 'open', failures: 2 }),
      ]);
    } finally {
      await daemon.stop();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(circuitStates()).toEqual([]);
  });
});
