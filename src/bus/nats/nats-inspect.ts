// Read-side numbers for `agentd status` on NATS, from each route's consumer and the DLQ stream.
// JetStream counts deliveries rather than keeping per-run rows, so these are counts, not history.
import type { NatsBus } from './nats-bus.js';
import { subscriptionToken } from './names.js';

export interface NatsRouteStatus {
  route: string;
  active: boolean;
  types: string[];
  /** Stored for the route, not handed to any worker yet. */
  queued: number;
  /** Out with a worker: running, parked behind its key, or waiting for a retry. */
  outstanding: number;
  /** Deliveries handed out more than once (retries, expired leases). */
  redelivered: number;
  dead: number;
  /** Workers waiting on the route right now. */
  waitingWorkers: number;
}

export async function natsStatus(
  bus: NatsBus,
): Promise<{ events: number; routes: NatsRouteStatus[] }> {
  const { jsm } = bus.store;
  const stream = await jsm.streams.info(bus.names.stream);
  const dead = await bus.dlq.countBySubscription();
  const routes: NatsRouteStatus[] = [];
  for (const route of bus.routes().sort((a, b) => a.name.localeCompare(b.name))) {
    const info = await jsm.consumers
      .info(bus.names.stream, subscriptionToken(route.name))
      .catch(() => undefined);
    routes.push({
      route: route.name,
      active: route.active,
      types: route.types,
      queued: info?.num_pending ?? 0,
      outstanding: info?.num_ack_pending ?? 0,
      redelivered: info?.num_redelivered ?? 0,
      dead: dead.get(route.name) ?? 0,
      waitingWorkers: info?.num_waiting ?? 0,
    });
  }
  return { events: stream.state.messages, routes };
}
