// One claim loop per route, so a slow route never blocks another. Admission comes before the
// claim: a paused route, one out of rate-limit tokens or budget, or one at its concurrency does
// not pull; it waits, and its deliveries stay queued in the bus.
import type { Delivery } from '../bus/bus.js';
import type { Governor } from '../governor/governor.js';
import type { RoomVerdict, RunTicket } from '../governor/route-gate.js';
import type { Logger } from '../observe/log.js';
import type { RouteState } from './route-state.js';

export interface ClaimLoopDeps {
  governor: Governor;
  /** Aborts when the worker stops. */
  stop: AbortSignal;
  log: Logger;
  /** Starts a claimed delivery's run; its global slot is given back when it settles. */
  launch(state: RouteState, delivery: Delivery, ticket: RunTicket): void;
}

/** How long an idle route waits in one pull for work to arrive. */
const IDLE_POLL_MS = 1_000;

export async function claimLoop(state: RouteState, deps: ClaimLoopDeps): Promise<void> {
  const { governor, stop, log } = deps;
  const { gate } = state;
  let idle = true;
  while (!stop.aborted) {
    const verdict = gate.room();
    const free = state.concurrency - state.stats.inFlight;
    if (verdict.room <= 0 || free <= 0) {
      // A settle, a refresh (pauses are re-read every half second) or the given time wakes it.
      await governor.waitForChange(
        free <= 0 ? undefined : wakeAfter(verdict, governor.now()),
        stop,
      );
      continue;
    }
    // An idle route waits holding one slot; a busy one takes what is ready without waiting.
    const want = Math.min(free, verdict.room, idle ? 1 : Number.MAX_SAFE_INTEGER);
    const grant = await governor.slots.acquire({
      priority: gate.priority,
      max: want,
      idle,
      signal: stop,
    });
    if (grant.count === 0) continue;
    let deliveries: Delivery[] = [];
    let tokens = 0;
    let pulled = false;
    try {
      // A busy route takes its route-wide rate-limit tokens first (a shared bucket may hold
      // fewer than room() guessed) and pulls no more than it got. An idle one waits for work
      // holding none, since a shared bucket's token held through a long poll is kept from the
      // workers that have work, and takes them for what arrived.
      if (!idle) tokens = await gate.takeTokens(grant.count);
      if (idle || tokens > 0) {
        pulled = true;
        const signal =
          grant.preempted === undefined ? stop : AbortSignal.any([stop, grant.preempted]);
        deliveries = await state.subscription.pull({
          max: idle ? grant.count : tokens,
          waitMs: idle && !grant.contended ? IDLE_POLL_MS : 0,
          signal,
        });
      }
      if (idle && deliveries.length > 0) tokens = await gate.takeTokens(deliveries.length);
    } catch (error) {
      if (!stop.aborted)
        log.error({ route: state.route.name, err: error }, 'claiming failed; retrying in 1 s');
      await sleep(stop.aborted ? 0 : 1_000, stop);
    } finally {
      grant.finish();
      governor.slots.release(grant.count - deliveries.length);
    }
    // A busy route out of tokens did not pull: it stays busy, and room() knows when to look again.
    if (pulled) idle = deliveries.length === 0;
    // Claimed while stopping, while a pause came in during the poll, or (idle) without a token:
    // handed back untouched, without spending an attempt. Their tokens, and those the pull did
    // not use, go back.
    const paused = deliveries.length > 0 && gate.room().paused !== undefined;
    const runnable = stop.aborted || paused ? 0 : Math.min(deliveries.length, tokens);
    await giveBack(state, tokens - runnable, log);
    const unrun = deliveries.slice(runnable);
    if (unrun.length > 0) {
      await Promise.allSettled(unrun.map((d) => d.release()));
      governor.slots.release(unrun.length);
    }
    if (stop.aborted) break;
    if (runnable === 0) continue;
    const tickets = gate.claimed(runnable);
    for (let i = 0; i < runnable; i++)
      deps.launch(state, deliveries[i] as Delivery, tickets[i] as RunTicket);
  }
}

async function giveBack(state: RouteState, n: number, log: Logger): Promise<void> {
  if (n <= 0) return;
  try {
    await state.gate.giveBackTokens(n);
  } catch (error) {
    // Lost tokens only slow the route down until the bucket refills: never more runs than allowed.
    log.error({ route: state.route.name, err: error }, `giving back ${n} rate-limit tokens failed`);
  }
}

/** When a closed gate may open by itself: a rate-limit token, or a budget window rolling over. */
function wakeAfter(verdict: RoomVerdict, now: number): number | undefined {
  if (verdict.retryInMs !== undefined) return verdict.retryInMs;
  const until = verdict.paused?.until;
  return until === undefined ? undefined : Math.max(0, Date.parse(until) - now);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
