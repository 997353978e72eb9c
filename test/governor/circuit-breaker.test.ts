// The circuit breaker on a manual clock: closed → open after N failures in a row → half-open after
// the cool-down with one trial → closed on success or open again; what does not count; the
// registry's states for `agentd status`.
import { describe, expect, it } from 'vitest';
import {
  CircuitBreaker,
  CircuitOpenError,
  type CircuitPass,
  type CircuitTicket,
  type CircuitTransition,
} from '../../src/governor/circuit-breaker.js';
import { CircuitRegistry } from '../../src/governor/circuit-breaker-registry.js';
import { retrySteering } from '../../src/core/errors.js';
import { ManualClock } from '../fixtures/manual-clock.js';

const T0 = '2025-03-14T12:00:00.000Z';

function setup(options: { failures?: number; coolDownMs?: number } = {}) {
  const clock = new ManualClock(T0);
  const transitions: CircuitTransition[] = [];
  const breaker = new CircuitBreaker('provider', 'anthropic', {
    clock,
    failures: options.failures ?? 3,
    coolDownMs: options.coolDownMs ?? 30_000,
    onTransition: (t) => transitions.push(t),
  });
  return { clock, breaker, transitions };
}

function ticket(pass: CircuitPass): CircuitTicket {
  if (!pass.allowed) throw new Error(`refused for ${pass.retryAfterMs} ms`);
  return pass;
}

const boom = new Error('HTTP 500');

describe('circuit breaker', () => {
  it('stays closed below the threshold, and a success resets the count', () => {
    const { breaker, transitions } = setup({ failures: 3 });
    ticket(breaker.tryPass()).failed(boom);
    ticket(breaker.tryPass()).failed(boom);
    ticket(breaker.tryPass()).succeeded();
    ticket(breaker.tryPass()).failed(boom);
    ticket(breaker.tryPass()).failed(boom);
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', failures: 2 });
    expect(transitions).toEqual([]);
  });

  it('opens after the configured failures in a row and refuses calls for the rest of the cool-down', async () => {
    const { clock, breaker, transitions } = setup({ failures: 3, coolDownMs: 30_000 });
    for (let i = 0; i < 3; i++) ticket(breaker.tryPass()).failed(boom);
    expect(transitions).toEqual([
      {
        to: 'open',
        kind: 'provider',
        name: 'anthropic',
        failures: 3,
        coolDownMs: 30_000,
        lastError: 'Error: HTTP 500',
        at: Date.parse(T0),
      },
    ]);
    expect(breaker.tryPass()).toEqual({ allowed: false, retryAfterMs: 30_000 });
    await clock.advanceBy(12_000);
    expect(breaker.tryPass()).toEqual({ allowed: false, retryAfterMs: 18_000 });
    expect(breaker.blockedForMs()).toBe(18_000);
    expect(breaker.snapshot()).toEqual({
      kind: 'provider',
      name: 'anthropic',
      state: 'open',
      until: '2025-03-14T12:00:30.000Z',
      failures: 3,
      lastError: 'Error: HTTP 500',
    });
  });

  it('lets exactly one trial through after the cool-down; its success closes the circuit', async () => {
    const { clock, breaker, transitions } = setup({ failures: 2, coolDownMs: 10_000 });
    ticket(breaker.tryPass()).failed(boom);
    ticket(breaker.tryPass()).failed(boom);
    await clock.advanceBy(10_000);
    expect(breaker.snapshot().state).toBe('half-open');
    const trial = ticket(breaker.tryPass());
    expect(trial.trial).toBe(true);
    // Others wait while the trial is out (at most the cool-down, here 5 s).
    expect(breaker.tryPass()).toEqual({ allowed: false, retryAfterMs: 5_000 });
    trial.succeeded();
    expect(transitions.map((t) => [t.to, t.failures])).toEqual([
      ['open', 2],
      ['closed', 2],
    ]);
    expect(breaker.snapshot()).toEqual({
      kind: 'provider',
      name: 'anthropic',
      state: 'closed',
      failures: 0,
    });
    const after = ticket(breaker.tryPass());
    expect(after.trial).toBe(false);
  });

  it('opens again for a fresh cool-down when the trial fails', async () => {
    const { clock, breaker, transitions } = setup({ failures: 2, coolDownMs: 10_000 });
    ticket(breaker.tryPass()).failed(boom);
    ticket(breaker.tryPass()).failed(boom);
    await clock.advanceBy(15_000);
    ticket(breaker.tryPass()).failed(new Error('still down'));
    expect(breaker.tryPass()).toEqual({ allowed: false, retryAfterMs: 10_000 });
    expect(transitions.map((t) => [t.to, t.failures, t.lastError])).toEqual([
      ['open', 2, 'Error: HTTP 500'],
      ['open', 3, 'Error: still down'],
    ]);
  });

  it('does not count released calls (4xx, 429, aborted): a released trial frees the slot', async () => {
    const { clock, breaker, transitions } = setup({ failures: 2, coolDownMs: 10_000 });
    for (let i = 0; i < 10; i++) ticket(breaker.tryPass()).released();
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', failures: 0 });
    ticket(breaker.tryPass()).failed(boom);
    ticket(breaker.tryPass()).failed(boom);
    await clock.advanceBy(10_000);
    ticket(breaker.tryPass()).released();
    const next = ticket(breaker.tryPass());
    expect(next.trial).toBe(true);
    next.succeeded();
    expect(transitions.map((t) => t.to)).toEqual(['open', 'closed']);
  });

  it('ignores late results of calls let through before the circuit opened', async () => {
    const { clock, breaker, transitions } = setup({ failures: 2, coolDownMs: 10_000 });
    const early = ticket(breaker.tryPass());
    const lateFailure = ticket(breaker.tryPass());
    ticket(breaker.tryPass()).failed(boom);
    ticket(breaker.tryPass()).failed(boom);
    await clock.advanceBy(4_000);
    early.succeeded(); // proves nothing about the service now: stays open
    lateFailure.failed(boom); // does not push the cool-down further
    expect(breaker.blockedForMs()).toBe(6_000);
    expect(transitions.map((t) => t.to)).toEqual(['open']);
  });

  it('counts a ticket once, however often it is settled', () => {
    const { breaker } = setup({ failures: 2 });
    const one = ticket(breaker.tryPass());
    one.failed(boom);
    one.failed(boom);
    one.succeeded();
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', failures: 1 });
  });

  it('refuses bad settings with the field named', () => {
    const clock = new ManualClock(T0);
    expect(
      () => new CircuitBreaker('sink', 'slack', { clock, failures: 0, coolDownMs: 1 }),
    ).toThrow('circuit sink slack: failures must be a positive integer');
    expect(
      () => new CircuitBreaker('sink', 'slack', { clock, failures: 1, coolDownMs: -5 }),
    ).toThrow('circuit sink slack: coolDownMs must be a positive number');
  });
});

describe('CircuitOpenError', () => {
  it('steers the worker to retry after the rest of the cool-down', () => {
    const error = new CircuitOpenError('provider', 'anthropic', 12_345);
    expect(error.code).toBe('CIRCUIT_OPEN');
    expect(retrySteering(error)).toEqual({ retryable: true, retryAfterMs: 12_345 });
    expect(error.message).toBe(
      'provider anthropic: circuit open after repeated failures; not calling it for another 13 s',
    );
  });
});

describe('circuit registry', () => {
  it('keeps one breaker per kind and name, with the configured settings, and lists their states', async () => {
    const clock = new ManualClock(T0);
    const seen: CircuitTransition[] = [];
    const registry = new CircuitRegistry({
      clock,
      failures: 1,
      coolDownMs: 60_000,
      onTransition: (t) => seen.push(t),
    });
    expect(registry.breaker('sink', 'slack')).toBe(registry.breaker('sink', 'slack'));
    ticket(registry.breaker('sink', 'slack').tryPass()).failed(boom);
    ticket(registry.breaker('provider', 'openai').tryPass()).succeeded();
    await clock.advanceBy(1_000);
    ticket(registry.breaker('sink', 'github').tryPass()).failed(boom);
    expect(registry.states()).toEqual([
      { kind: 'provider', name: 'openai', state: 'closed', failures: 0 },
      {
        kind: 'sink',
        name: 'github',
        state: 'open',
        until: '2025-03-14T12:01:01.000Z',
        failures: 1,
        lastError: 'Error: HTTP 500',
      },
      {
        kind: 'sink',
        name: 'slack',
        state: 'open',
        until: '2025-03-14T12:01:00.000Z',
        failures: 1,
        lastError: 'Error: HTTP 500',
      },
    ]);
    expect(registry.nextReopenAt('sink')).toBe(Date.parse('2025-03-14T12:01:00.000Z'));
    expect(registry.nextReopenAt('provider')).toBeUndefined();
    expect(seen.map((t) => `${t.kind}/${t.name}`)).toEqual(['sink/slack', 'sink/github']);
    await clock.advanceBy(60_000);
    expect(registry.states().map((s) => s.state)).toEqual(['closed', 'half-open', 'half-open']);
  });

  it('defaults to 5 failures and a 30 s cool-down', () => {
    const clock = new ManualClock(T0);
    const breaker = new CircuitRegistry({ clock }).breaker('provider', 'x');
    for (let i = 0; i < 4; i++) ticket(breaker.tryPass()).failed(boom);
    expect(breaker.snapshot().state).toBe('closed');
    ticket(breaker.tryPass()).failed(boom);
    expect(breaker.tryPass()).toEqual({ allowed: false, retryAfterMs: 30_000 });
  });
});
