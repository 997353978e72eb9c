// The shared provider limiter on a manual clock: requests and tokens per minute within bounds
// under a flood, estimates settled against real usage, a 429 pause holding every caller, waits
// ended by AbortSignal, first come first served; and the process-wide registry agents look up.
import { afterEach, describe, expect, it } from 'vitest';
import { CircuitRegistry } from '../../src/governor/circuit-breaker-registry.js';
import {
  InProcessProviderLimiter,
  type ProviderPermit,
} from '../../src/governor/provider-limiter.js';
import {
  circuitStates,
  installProviderGovernor,
  providerGovernor,
  ProviderRegistry,
} from '../../src/governor/provider-limiter-registry.js';
import { ManualClock } from '../fixtures/manual-clock.js';

const T0 = Date.parse('2025-03-14T12:00:00.000Z');
const never = new AbortController().signal;

/** Lets granted permits' promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

interface Tracked {
  granted: number[];
  permits: ProviderPermit[];
}

function flood(
  limiter: InProcessProviderLimiter,
  clock: ManualClock,
  count: number,
  tokens = 0,
): Tracked {
  const tracked: Tracked = { granted: [], permits: [] };
  for (let i = 0; i < count; i++)
    void limiter.acquire({ tokens }, new AbortController().signal).then((permit) => {
      tracked.granted.push(clock.now() - T0);
      tracked.permits.push(permit);
    });
  return tracked;
}

describe('provider limiter', () => {
  it('holds requestsPerMinute under a flood: a minute’s burst, then one every 60/rpm s', async () => {
    const clock = new ManualClock(T0);
    const limiter = new InProcessProviderLimiter('anthropic', { requestsPerMinute: 10 }, clock);
    const tracked = flood(limiter, clock, 25);
    await settle();
    expect(tracked.granted).toHaveLength(10);
    for (let t = 0; t < 120_000; t += 1_000) {
      await clock.advanceBy(1_000);
      await settle();
    }
    expect(tracked.granted).toHaveLength(25);
    expect(tracked.granted.slice(10)).toEqual(
      Array.from({ length: 15 }, (_, i) => (i + 1) * 6_000),
    );
    // No 60 s window holds more than the burst plus what refills in it.
    for (const start of tracked.granted) {
      const inWindow = tracked.granted.filter((t) => t >= start && t < start + 60_000).length;
      expect(inWindow).toBeLessThanOrEqual(10 + 10);
    }
    expect(limiter.waiting).toBe(0);
  });

  it('takes estimated tokens and settles the real ones: a refund lets the next call go sooner', async () => {
    const clock = new ManualClock(T0);
    const limiter = new InProcessProviderLimiter('openai', { tokensPerMinute: 6_000 }, clock);
    const first = await limiter.acquire({ tokens: 5_000 }, never);
    const second = flood(limiter, clock, 1, 4_000);
    await settle();
    expect(second.granted).toEqual([]);
    // The first call used 1,000: 4,000 come back, enough for the second at once.
    first.settle(1_000);
    await settle();
    expect(second.granted).toEqual([0]);
  });

  it('charges a call that used more than it took: the debt delays the next one', async () => {
    const clock = new ManualClock(T0);
    const limiter = new InProcessProviderLimiter('openai', { tokensPerMinute: 6_000 }, clock);
    const first = await limiter.acquire({ tokens: 1_000 }, never);
    first.settle(9_000); // 3,000 below zero
    const next = flood(limiter, clock, 1, 3_000);
    await settle();
    expect(next.granted).toEqual([]);
    await clock.advanceBy(59_000);
    await settle();
    expect(next.granted).toEqual([]);
    await clock.advanceBy(1_000);
    await settle();
    expect(next.granted).toEqual([60_000]);
  });

  it('lets a call estimated above a whole minute wait for a full bucket instead of forever', async () => {
    const clock = new ManualClock(T0);
    const limiter = new InProcessProviderLimiter('openai', { tokensPerMinute: 1_000 }, clock);
    const huge = await limiter.acquire({ tokens: 50_000 }, never);
    const next = flood(limiter, clock, 1, 1);
    await settle();
    expect(next.granted).toEqual([]);
    huge.settle(1_000);
    await clock.advanceBy(60);
    await settle();
    expect(next.granted).toEqual([60]);
  });

  it('serves waiters in order: a large request is not overtaken by small ones', async () => {
    const clock = new ManualClock(T0);
    const limiter = new InProcessProviderLimiter('p', { tokensPerMinute: 600 }, clock);
    await limiter.acquire({ tokens: 600 }, never);
    const order: string[] = [];
    void limiter.acquire({ tokens: 600 }, never).then(() => order.push('large'));
    void limiter.acquire({ tokens: 10 }, never).then(() => order.push('small'));
    await clock.advanceBy(10_000);
    await settle();
    expect(order).toEqual([]);
    await clock.advanceBy(50_000);
    await settle();
    expect(order).toEqual(['large']);
    await clock.advanceBy(1_000);
    await settle();
    expect(order).toEqual(['large', 'small']);
  });

  it('pauses every caller until a 429’s retry-after has passed, new callers included', async () => {
    const clock = new ManualClock(T0);
    const limiter = new InProcessProviderLimiter('anthropic', {}, clock);
    limiter.pause(T0 + 20_000);
    expect(limiter.pausedUntil()).toBe(T0 + 20_000);
    const early = flood(limiter, clock, 2);
    await clock.advanceBy(5_000);
    const late = flood(limiter, clock, 1);
    // An earlier end never shortens the pause.
    limiter.pause(T0 + 1_000);
    await clock.advanceBy(14_999);
    await settle();
    expect([...early.granted, ...late.granted]).toEqual([]);
    await clock.advanceBy(1);
    await settle();
    expect([...early.granted, ...late.granted]).toEqual([20_000, 20_000, 20_000]);
    expect(limiter.pausedUntil()).toBeUndefined();
  });

  it('ends a wait when the run is aborted, and the callers behind it move up', async () => {
    const clock = new ManualClock(T0);
    const limiter = new InProcessProviderLimiter('p', { requestsPerMinute: 1 }, clock);
    await limiter.acquire({ tokens: 0 }, never);
    const run = new AbortController();
    const waiting = limiter.acquire({ tokens: 0 }, run.signal);
    const behind = flood(limiter, clock, 1);
    run.abort(new Error('run cancelled'));
    await expect(waiting).rejects.toThrow('run cancelled');
    await clock.advanceBy(60_000);
    await settle();
    expect(behind.granted).toEqual([60_000]);
    const aborted = AbortSignal.abort(new Error('already gone'));
    await expect(limiter.acquire({ tokens: 0 }, aborted)).rejects.toThrow('already gone');
  });

  it('gives back request and tokens of a call that was never made', async () => {
    const clock = new ManualClock(T0);
    const limiter = new InProcessProviderLimiter(
      'p',
      { requestsPerMinute: 1, tokensPerMinute: 100 },
      clock,
    );
    const permit = await limiter.acquire({ tokens: 100 }, never);
    const next = flood(limiter, clock, 1, 100);
    await settle();
    expect(next.granted).toEqual([]);
    permit.cancel();
    permit.settle(100); // after cancel: ignored
    await settle();
    expect(next.granted).toEqual([0]);
  });

  it('refuses limits that are not positive integers, naming the config field', () => {
    expect(() => new InProcessProviderLimiter('anthropic', { requestsPerMinute: 0 })).toThrow(
      'governor.providers.anthropic.requestsPerMinute: expected a positive integer, got 0',
    );
    expect(() => new InProcessProviderLimiter('x', { tokensPerMinute: 1.5 })).toThrow(
      'governor.providers.x.tokensPerMinute: expected a positive integer, got 1.5',
    );
  });
});

describe('provider registry', () => {
  const uninstalls: (() => void)[] = [];
  afterEach(() => {
    for (const uninstall of uninstalls.splice(0)) uninstall();
  });

  it('shares one limiter per provider name, with the limits the config gives it', async () => {
    const clock = new ManualClock(T0);
    const registry = new ProviderRegistry({
      providers: { anthropic: { requestsPerMinute: 1 } },
      clock,
    });
    expect(registry.limiter('anthropic')).toBe(registry.limiter('anthropic'));
    await registry.limiter('anthropic').acquire({ tokens: 0 }, never);
    const second = flood(registry.limiter('anthropic') as InProcessProviderLimiter, clock, 1);
    // Another name is limited by nothing.
    await registry.limiter('openai').acquire({ tokens: 0 }, never);
    await registry.limiter('openai').acquire({ tokens: 0 }, never);
    await settle();
    expect(second.granted).toEqual([]);
    expect(registry.configuredNames()).toEqual(['anthropic']);
    expect(registry.circuit('anthropic')).toBeUndefined();
  });

  it('is found process-wide once installed; the default limits nothing and breaks no circuit', async () => {
    const before = providerGovernor();
    expect(before.circuit('anthropic')).toBeUndefined();
    before.limiter('anthropic').pause(Date.now() + 60_000);
    expect(before.limiter('anthropic').pausedUntil()).toBeUndefined();
    await before.limiter('anthropic').acquire({ tokens: 1e9 }, never);
    expect(circuitStates()).toEqual([]);

    const clock = new ManualClock(T0);
    const circuits = new CircuitRegistry({ clock, failures: 1 });
    const first = new ProviderRegistry({ circuits });
    const second = new ProviderRegistry({ circuits: new CircuitRegistry({ clock }) });
    const uninstallFirst = installProviderGovernor(first);
    const uninstallSecond = installProviderGovernor(second);
    uninstalls.push(uninstallFirst, uninstallSecond);
    expect(providerGovernor()).toBe(second);
    // Stopped out of order (two daemons in one test process): each removes only itself.
    uninstallFirst();
    expect(providerGovernor()).toBe(second);
    uninstallSecond();
    expect(providerGovernor()).toBe(before);

    uninstalls.push(installProviderGovernor(first));
    const pass = first.circuit('anthropic')?.tryPass();
    if (pass?.allowed !== true) throw new Error('expected a pass');
    pass.failed(new Error('HTTP 503'));
    expect(circuitStates()).toEqual([
      {
        kind: 'provider',
        name: 'anthropic',
        state: 'open',
        until: '2025-03-14T12:00:30.000Z',
        failures: 1,
        lastError: 'Error: HTTP 503',
      },
    ]);
  });
});
