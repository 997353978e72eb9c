// From the config's `governor.providers` and `governor.circuit` to what a process runs: one
// circuit registry (providers and outbox sinks), provider limiters, the announcer publishing
// agentd.circuit.*, all installed where agent handlers find them. The daemon and each worker
// process call this once. Limiters share their buckets through the governor store when it offers
// that (NATS); circuits are per process (see docs/governor.md for several workers).
import type { Clock } from '../core/clock.js';
import type { ResolvedConfig } from '../core/config.js';
import type { AgentdEvent } from '../core/envelope.js';
import type { Logger } from '../observe/log.js';
import { CircuitAnnouncer } from './circuit-breaker-events.js';
import { CircuitRegistry } from './circuit-breaker-registry.js';
import type { SharedRateLimits } from './governor-store.js';
import { installProviderGovernor, ProviderRegistry } from './provider-limiter-registry.js';

export interface ProviderGovernanceOptions {
  publish: (events: AgentdEvent[]) => Promise<unknown>;
  /** The `source` (and `origin`) of agentd.circuit.* events. */
  source: string;
  origin?: string | undefined;
  log: Logger;
  clock?: Clock;
  /** The governor store's shared buckets (NATS); without them limits are this process's own. */
  rateLimits?: SharedRateLimits | undefined;
}

export interface ProviderGovernance {
  readonly circuits: CircuitRegistry;
  readonly providers: ProviderRegistry;
  /** Uninstalls the registry and waits for circuit events still being published. */
  stop(): Promise<void>;
}

export function startProviderGovernance(
  governor: ResolvedConfig['governor'],
  options: ProviderGovernanceOptions,
): ProviderGovernance {
  const announcer = new CircuitAnnouncer(options);
  const circuits = new CircuitRegistry({
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(governor?.circuit?.failures === undefined ? {} : { failures: governor.circuit.failures }),
    ...(governor?.circuit?.coolDownMs === undefined
      ? {}
      : { coolDownMs: governor.circuit.coolDownMs }),
    onTransition: announcer.listener,
  });
  const shared = options.rateLimits;
  const providers = new ProviderRegistry({
    providers: governor?.providers,
    circuits,
    ...(shared === undefined
      ? {}
      : {
          createLimiter: (name, limits, clock) =>
            shared.providerLimiter(name, limits, { clock, log: options.log }),
        }),
  });
  const uninstall = installProviderGovernor(providers);
  let stopping: Promise<void> | undefined;
  return {
    circuits,
    providers,
    stop() {
      stopping ??= (async () => {
        uninstall();
        await announcer.drain();
      })();
      return stopping;
    },
  };
}
