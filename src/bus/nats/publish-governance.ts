// What a publish decides for governed routes (governed-route.ts), in whichever process publishes
// (daemon, worker, CLI), right after JetStream stored the events — as the SQLite bus decides it in
// the publish's transaction:
//   - singleton 'replace' and cancelOn: the newer event marks its key's lock so that every older
//     unfinished delivery of the key ends cancelled, and tells the route's workers at once (a core
//     NATS notice; a holder that misses it sees the mark at its next extend or settle);
//   - singleton 'skip': each event of the route is decided in stream order on its key's lock,
//     skipped (and recorded so) while a message decided to run is unfinished; a skipped message
//     only passes through its key later, without running.
// A publisher that dies between storing and deciding leaves both to the worker that receives the
// event (route-governor.ts).
import type { AgentdEvent } from '../../core/envelope.js';
import { cancelAsked, type GovernedRoute } from './governed-route.js';
import type { KeyMarksStore } from './key-marks.js';
import type { NatsStore } from './nats-store.js';
import { EMPTY_RECORD, RunRecords, type RunEnding } from './run-records.js';

export interface StoredEvent {
  event: AgentdEvent;
  seq: number;
}

export async function governAtPublish(
  store: NatsStore,
  marks: KeyMarksStore,
  routes: readonly GovernedRoute[],
  stored: readonly StoredEvent[],
): Promise<void> {
  await Promise.all(routes.map((route) => governRoute(store, marks, route, stored)));
}

async function governRoute(
  store: NatsStore,
  marks: KeyMarksStore,
  route: GovernedRoute,
  stored: readonly StoredEvent[],
): Promise<void> {
  // The newest event of a key in this publish cancels everything older at once.
  const cancels = new Map<string, { below: number; reason: string }>();
  // Singleton 'skip' decides a key's events one after the other, in stream order.
  const singles = new Map<string, StoredEvent[]>();
  for (const one of stored) {
    const { type } = one.event;
    if (!route.matches(type) && !route.watches(type)) continue;
    const keyTok = route.keyTokenOf(one.event);
    if (keyTok === undefined) continue;
    const reason = route.cancelling ? cancelAsked(route, one.event) : undefined;
    if (reason !== undefined) cancels.set(keyTok, { below: one.seq, reason });
    if (route.spec.singleton === 'skip' && route.matches(type))
      singles.set(keyTok, [...(singles.get(keyTok) ?? []), one]);
  }
  const records = new RunRecords(store, route.subToken);
  await Promise.all(
    [...singles].map(async ([keyTok, events]) => {
      for (const { event, seq } of events)
        if ((await marks.decideSingleton(route.subToken, keyTok, seq)) === 'skip')
          await records.save(seq, { ...EMPTY_RECORD, ended: singletonSkip(route, event) });
    }),
  );
  await Promise.all(
    [...cancels].map(([keyTok, { below, reason }]) =>
      marks.cancelOlder(route.subToken, keyTok, below, reason),
    ),
  );
}

/** How singleton 'skip' ends an event of a busy key. */
export function singletonSkip(route: GovernedRoute, event: AgentdEvent): RunEnding {
  return {
    status: 'skipped',
    reason: `singleton: key "${route.keyOf(event) ?? ''}" already has an unfinished run`,
    eventId: event.id,
    at: new Date().toISOString(),
  };
}
