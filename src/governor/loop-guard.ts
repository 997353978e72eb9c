// The loop guard: stops chains of events that trigger each other without end. Three limits, checked
// before a delivery runs: the event's causation depth, how often the route already ran in the
// event's own chain (a cycle), and how many runs its correlation chain has had in all. The routes a
// chain passed through travel with its events in an envelope extension, so the guard works on
// every bus and across harnesses.
import type { AgentdEvent } from '../core/envelope.js';
import type { GovernorStore } from './governor-store.js';

/** Lower-case letters and digits only, as CloudEvents extension names must be. */
export const CHAIN_EXTENSION = 'agentdchain';

export const LOOP_DEFAULTS = { maxDepth: 8, maxCycles: 3, maxRunsPerChain: 1_000 } as const;

export interface LoopLimits {
  maxDepth: number;
  maxCycles: number;
  maxRunsPerChain: number;
}

/**
 * The value an event emitted by a run of `route` carries: its parent's chain with `route` counted
 * once more. The format is `route=count,route=count` (route names have neither `=` nor `,`).
 */
export function chainAfter(parent: AgentdEvent, route: string): string {
  const counts = parseChain(parent[CHAIN_EXTENSION]);
  counts.set(route, (counts.get(route) ?? 0) + 1);
  return [...counts].map(([name, count]) => `${name}=${count}`).join(',');
}

/** How many runs of `route` the event's chain passed through before it. */
export function runsInChain(event: AgentdEvent, route: string): number {
  return parseChain(event[CHAIN_EXTENSION]).get(route) ?? 0;
}

function parseChain(value: unknown): Map<string, number> {
  const counts = new Map<string, number>();
  if (typeof value !== 'string' || value === '') return counts;
  for (const part of value.split(',')) {
    const at = part.lastIndexOf('=');
    const count = Number(part.slice(at + 1));
    // A malformed entry (an event made by hand) counts as nothing rather than failing the run.
    if (at > 0 && Number.isSafeInteger(count) && count > 0) counts.set(part.slice(0, at), count);
  }
  return counts;
}

/**
 * agentd's announcements about runs, actions and dead letters: derived from the event they are
 * about (one hop deeper) but never about an announcement of their own kind, so they cannot loop,
 * and a route reacting to them is not stopped for the depth of the chain they report on.
 */
export function isAnnouncement(type: string): boolean {
  return (
    type.startsWith('agentd.run.') ||
    type.startsWith('agentd.action.') ||
    type === 'agentd.dlq.added'
  );
}

export class LoopGuard {
  constructor(
    readonly limits: LoopLimits,
    private readonly store: GovernorStore,
    private readonly now: () => number,
  ) {}

  /**
   * Why a run of `route` for `event` would continue a runaway chain (a reason starting with
   * `loop-guard:`), or undefined when it may run. Counts the run in its correlation chain, so call
   * it once per run, right before it starts; a retry (`attempt` > 1) is not counted again.
   */
  async check(route: string, event: AgentdEvent, attempt: number): Promise<string | undefined> {
    if (isAnnouncement(event.type)) return undefined;
    const { maxDepth, maxCycles, maxRunsPerChain } = this.limits;
    if (event.depth > maxDepth)
      return `loop-guard: ${event.type} is at depth ${event.depth}, above governor.loop.maxDepth ${maxDepth}`;
    const cycles = runsInChain(event, route);
    if (cycles > maxCycles)
      return `loop-guard: route ${route} re-triggered ${cycles} times by its own chain, above governor.loop.maxCycles ${maxCycles}`;
    // Root events start chains of their own: counting them would store a row per event.
    if (event.depth === 0 || attempt > 1) return undefined;
    const runs = await this.store.countChainRun(event.correlationid, this.now());
    if (runs > maxRunsPerChain)
      return `loop-guard: correlation chain ${event.correlationid} reached ${runs} runs, above governor.loop.maxRunsPerChain ${maxRunsPerChain}`;
    return undefined;
  }
}
