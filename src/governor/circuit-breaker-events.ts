// Circuit openings and closings as internal events (`agentd.circuit.opened` / `.closed`) and log
// lines. Breakers change state synchronously inside a call's bookkeeping, so the publish is handed
// to this announcer, which keeps it and lets the daemon wait for it before closing the bus.
import { toEvent, type AgentdEvent } from '../core/envelope.js';
import type { Logger } from '../observe/log.js';
import type { CircuitTransition, TransitionListener } from './circuit-breaker.js';

export const CIRCUIT_OPENED = 'agentd.circuit.opened';
export const CIRCUIT_CLOSED = 'agentd.circuit.closed';

/** The data of both events. */
export interface CircuitEventData {
  kind: 'provider' | 'sink';
  name: string;
  failures: number;
  coolDownMs: number;
  lastError?: string;
}

export function circuitEvent(
  transition: CircuitTransition,
  defaults: { source: string; origin?: string | undefined },
): AgentdEvent {
  const data: CircuitEventData = {
    kind: transition.kind,
    name: transition.name,
    failures: transition.failures,
    coolDownMs: transition.coolDownMs,
    ...(transition.lastError === undefined ? {} : { lastError: transition.lastError }),
  };
  return toEvent(
    {
      type: transition.to === 'open' ? CIRCUIT_OPENED : CIRCUIT_CLOSED,
      subject: `${transition.kind}/${transition.name}`,
      time: new Date(transition.at).toISOString(),
      data,
    },
    {
      source: defaults.source,
      trust: 'internal',
      ...(defaults.origin === undefined ? {} : { origin: defaults.origin }),
    },
  );
}

export interface CircuitAnnouncerOptions {
  publish: (events: AgentdEvent[]) => Promise<unknown>;
  source: string;
  origin?: string | undefined;
  log: Logger;
}

export class CircuitAnnouncer {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: CircuitAnnouncerOptions) {}

  /** Give this to the circuit registry. */
  readonly listener: TransitionListener = (transition) => {
    const { log } = this.options;
    const fields = {
      circuit: transition.kind,
      name: transition.name,
      failures: transition.failures,
      ...(transition.lastError === undefined ? {} : { lastError: transition.lastError }),
    };
    if (transition.to === 'open')
      log.warn(
        { ...fields, coolDownMs: transition.coolDownMs },
        `circuit opened: ${transition.kind} ${transition.name} failed ${transition.failures} times in a row; no calls for ${Math.round(transition.coolDownMs / 1_000)} s`,
      );
    else log.info(fields, `circuit closed: ${transition.kind} ${transition.name} answers again`);
    const event = circuitEvent(transition, this.options);
    const publishing = this.options
      .publish([event])
      .then(() => undefined)
      .catch((error: unknown) => {
        log.error(
          { ...fields, eventId: event.id, err: error },
          `publishing ${event.type} failed (the transition itself stands)`,
        );
      })
      .finally(() => this.pending.delete(publishing));
    this.pending.add(publishing);
  };

  /** Waits for the events announced so far to be published (or to have failed). */
  async drain(): Promise<void> {
    await Promise.all([...this.pending]);
  }
}
