// A route's durable pull consumer on the events stream: created at the end of the stream (a new
// route gets only events published from now on, as on SQLite), adapted when its lease or limit
// changes, and recreated from its acknowledged floor when its types change.
import type { SubscriptionOptions } from '../bus.js';
import type { NatsStore } from './nats-store.js';

const NS = 1_000_000;

/** Creates the route's durable consumer, or adapts the existing one; returns its first seq. */
export async function ensureRouteConsumer(
  store: NatsStore,
  name: string,
  subToken: string,
  options: SubscriptionOptions,
  maxAckPending: number,
): Promise<number> {
  const { jsm, names } = store;
  const stream = names.stream;
  const filter = names.filterSubject(options.types);
  const settings = {
    ack_wait: options.leaseMs * NS,
    max_ack_pending: maxAckPending,
  };
  const existing = await jsm.consumers.info(stream, subToken).catch(() => undefined);
  if (existing !== undefined && existing.config.filter_subject === filter) {
    const config = existing.config;
    if (
      config.ack_wait !== settings.ack_wait ||
      config.max_ack_pending !== settings.max_ack_pending
    )
      await jsm.consumers.update(stream, subToken, settings);
    return config.opt_start_seq ?? 1;
  }
  let start: number;
  if (existing !== undefined) {
    // The route's types changed: a new consumer picks up after the old one's acknowledged floor.
    start = existing.ack_floor.stream_seq + 1;
    await jsm.consumers.delete(stream, subToken);
  } else {
    start = (await jsm.streams.info(stream)).state.last_seq + 1;
  }
  try {
    await jsm.consumers.add(stream, {
      durable_name: subToken,
      description: `agentd route ${name}`,
      ack_policy: 'explicit',
      deliver_policy: 'by_start_sequence',
      opt_start_seq: start,
      filter_subject: filter,
      // Attempts are counted by agentd (see docs/nats-bus.md): JetStream's max_deliver would
      // strand a message silently, and releases and parked deliveries are not attempts.
      max_deliver: -1,
      max_waiting: 512,
      ...settings,
    });
    return start;
  } catch (error) {
    // Another worker created it first: use theirs.
    const theirs = await jsm.consumers.info(stream, subToken).catch(() => undefined);
    if (theirs === undefined) throw error;
    return theirs.config.opt_start_seq ?? 1;
  }
}
