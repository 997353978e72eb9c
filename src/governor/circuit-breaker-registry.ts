// The daemon's circuit breakers, one per provider and per outbox sink, made on first use with the
// config's `governor.circuit` settings; their states are what `agentd status` shows.
import { systemClock, type Clock } from '../core/clock.js';
import {
  CIRCUIT_DEFAULTS,
  CircuitBreaker,
  type CircuitKind,
  type CircuitSnapshot,
  type TransitionListener,
} from './circuit-breaker.js';

export interface CircuitRegistryOptions {
  clock?: Clock;
  /** Failures in a row that open a circuit. Default 5. */
  failures?: number;
  /** How long an open circuit refuses calls. Default 30 s. */
  coolDownMs?: number;
  /** Told of every opening and closing (the daemon publishes them as agentd.circuit.*). */
  onTransition?: TransitionListener;
}

export class CircuitRegistry {
  readonly clock: Clock;
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(private readonly options: CircuitRegistryOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  /** The breaker of one provider or sink; the same object for the life of the registry. */
  breaker(kind: CircuitKind, name: string): CircuitBreaker {
    const id = `${kind}\u0000${name}`;
    let breaker = this.breakers.get(id);
    if (breaker === undefined) {
      breaker = new CircuitBreaker(kind, name, {
        clock: this.clock,
        failures: this.options.failures ?? CIRCUIT_DEFAULTS.failures,
        coolDownMs: this.options.coolDownMs ?? CIRCUIT_DEFAULTS.coolDownMs,
        ...(this.options.onTransition === undefined
          ? {}
          : { onTransition: this.options.onTransition }),
      });
      this.breakers.set(id, breaker);
    }
    return breaker;
  }

  /** Every circuit that has carried a call, providers first, each kind by name. */
  states(): CircuitSnapshot[] {
    return [...this.breakers.values()]
      .map((breaker) => breaker.snapshot())
      .sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
  }

  /** The earliest time an open circuit of `kind` lets its trial through; undefined if none is open. */
  nextReopenAt(kind: CircuitKind): number | undefined {
    let next: number | undefined;
    for (const breaker of this.breakers.values()) {
      if (breaker.kind !== kind) continue;
      const at = breaker.reopensAt();
      if (at !== undefined && (next === undefined || at < next)) next = at;
    }
    return next;
  }
}
