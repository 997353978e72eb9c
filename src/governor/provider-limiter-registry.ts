// How an agent's model call finds its provider's limiter and circuit breaker: a process-wide
// registry the daemon installs at start (src/app.ts) and the agents look up by provider name.
// Nothing installed (tests, embedders calling agent handlers directly): no limits, no breakers.
//
// The registry lives on globalThis under a registered symbol, not in a module variable: a config
// file may load another copy of agentd's modules than the daemon runs (see retrySteering), and its
// agent() handlers must still find the daemon's registry. So callers use only its methods.
import { systemClock, type Clock } from '../core/clock.js';
import type { CircuitBreaker, CircuitSnapshot } from './circuit-breaker.js';
import type { CircuitRegistry } from './circuit-breaker-registry.js';
import {
  InProcessProviderLimiter,
  type ProviderLimiter,
  type ProviderLimits,
  type ProviderPermit,
} from './provider-limiter.js';

export interface ProviderGovernor {
  /** The clock limits, pauses and in-process retry waits are measured by. */
  readonly clock: Clock;
  /** The provider's limiter; one with no limits for a provider the config does not name. */
  limiter(name: string): ProviderLimiter;
  /** The provider's circuit breaker; undefined when calls are not circuit-broken. */
  circuit(name: string): CircuitBreaker | undefined;
  /** Every circuit of the process (providers and sinks), for `agentd status`. */
  circuitStates(): CircuitSnapshot[];
}

export interface ProviderRegistryOptions {
  /** `governor.providers`: limits by provider name. */
  providers?: Readonly<Record<string, ProviderLimits>> | undefined;
  /** Breakers of providers (kind 'provider'); without it calls are not circuit-broken. */
  circuits?: CircuitRegistry | undefined;
  clock?: Clock;
  /** Makes a provider's limiter; default in process. A multi-process variant plugs in here. */
  createLimiter?: (name: string, limits: ProviderLimits, clock: Clock) => ProviderLimiter;
}

/** Limiters made on first use per provider name, sharing the daemon's circuit registry. */
export class ProviderRegistry implements ProviderGovernor {
  readonly clock: Clock;
  private readonly limiters = new Map<string, ProviderLimiter>();

  constructor(private readonly options: ProviderRegistryOptions = {}) {
    this.clock = options.clock ?? options.circuits?.clock ?? systemClock;
  }

  limiter(name: string): ProviderLimiter {
    let limiter = this.limiters.get(name);
    if (limiter === undefined) {
      const limits = this.options.providers?.[name] ?? {};
      limiter =
        this.options.createLimiter?.(name, limits, this.clock) ??
        new InProcessProviderLimiter(name, limits, this.clock);
      this.limiters.set(name, limiter);
    }
    return limiter;
  }

  circuit(name: string): CircuitBreaker | undefined {
    return this.options.circuits?.breaker('provider', name);
  }

  circuitStates(): CircuitSnapshot[] {
    return this.options.circuits?.states() ?? [];
  }

  /** Provider names the config sets limits for. */
  configuredNames(): string[] {
    return Object.keys(this.options.providers ?? {});
  }
}

const NO_PERMIT: ProviderPermit = { settle: () => undefined, cancel: () => undefined };

/**
 * The default: every call goes at once. A 429 still makes the run that saw it wait (its own retry
 * loop does), but pauses nobody else: without a daemon there is nobody else to pause.
 */
const UNGOVERNED: ProviderGovernor = {
  clock: systemClock,
  limiter: (name) => ({
    name,
    acquire: async (_request, signal) => {
      signal.throwIfAborted();
      return NO_PERMIT;
    },
    pause: () => undefined,
    pausedUntil: () => undefined,
  }),
  circuit: () => undefined,
  circuitStates: () => [],
};

const SLOT = Symbol.for('agentd.governor.providers');
type Slot = { [SLOT]?: ProviderGovernor[] };

/**
 * Makes `governor` the one agents find; returns the uninstall function. Installs stack, so two
 * daemons in one process (tests) each uninstall only their own, in any order.
 */
export function installProviderGovernor(governor: ProviderGovernor): () => void {
  const slot = globalThis as Slot;
  const stack = (slot[SLOT] ??= []);
  stack.push(governor);
  return () => {
    const index = stack.lastIndexOf(governor);
    if (index >= 0) stack.splice(index, 1);
  };
}

/** The governor installed last, or the ungoverned default. */
export function providerGovernor(): ProviderGovernor {
  const stack = (globalThis as Slot)[SLOT];
  return stack?.[stack.length - 1] ?? UNGOVERNED;
}

/** The circuits of the daemon running in this process: what `agentd status` shows. */
export function circuitStates(): CircuitSnapshot[] {
  return providerGovernor().circuitStates();
}
