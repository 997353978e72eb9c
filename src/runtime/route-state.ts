// What the worker keeps per route, shared by its claim loop and the runs it launches.
import type { Subscription } from '../bus/bus.js';
import type { ResolvedRoute } from '../core/config.js';
import type { EventUpcast } from '../contracts/route-upcaster.js';
import type { RouteGate } from '../governor/route-gate.js';
import type { RouteObserver } from '../observe/run-observer.js';
import type { RunAbort } from './run-abort.js';

export interface RouteStats {
  inFlight: number;
  attempts: number;
  completed: number;
  skipped: number;
  retried: number;
  deadLettered: number;
  /** Given back by admission to run later (a per-key rate limit). */
  deferred: number;
  cancelled: number;
}

export interface RouteState {
  route: ResolvedRoute;
  subscription: Subscription;
  stats: RouteStats;
  concurrency: number;
  timeoutMs: number;
  leaseMs: number;
  observe: RouteObserver;
  /** Brings events to the version the route accepts; undefined when it accepts none. */
  upcast: EventUpcast | undefined;
  gate: RouteGate;
  /** Runs in flight by delivery id, so a cancel from the bus aborts the right one. */
  running: Map<string, RunAbort>;
}

export function emptyStats(): RouteStats {
  return {
    inFlight: 0,
    attempts: 0,
    completed: 0,
    skipped: 0,
    retried: 0,
    deadLettered: 0,
    deferred: 0,
    cancelled: 0,
  };
}
