// The dead-letter queue as its own stream: one message per dead delivery, holding the event, the
// reason and every attempt's error. Its stream sequence is the dead letter's id. Replay publishes
// the event again for that one route (behind everything already queued for its key), then deletes.
import type { AgentdEvent } from '../../core/envelope.js';
import type { DeadLetter, DeadLetterFilter, DeadLetterQueue, ErrorRecord } from '../bus.js';
import { ONLY_HEADER, eventMsgId, keyToken, subscriptionToken, type Names } from './names.js';
import { asUnavailable, type NatsStore } from './nats-store.js';
import { forgetSteps } from './step-memo.js';

export interface DeadRecord {
  subscription: string;
  event: AgentdEvent;
  attempts: number;
  reason: string;
  errors: ErrorRecord[];
  deadAt: string;
}

export class NatsDeadLetterQueue implements DeadLetterQueue {
  constructor(
    private readonly store: NatsStore,
    private readonly names: Names,
  ) {}

  /** Stores a dead letter once per delivery attempt; returns its id (the DLQ stream sequence). */
  async add(record: DeadRecord, msgId: string): Promise<number> {
    try {
      const ack = await this.store.publisher.publish(
        this.names.dlqSubject(subscriptionToken(record.subscription)),
        JSON.stringify(record),
        msgId,
      );
      return ack.seq;
    } catch (error) {
      throw asUnavailable(error, 'storing a dead letter');
    }
  }

  async list(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const subject =
      filter.subscription === undefined
        ? this.names.dlqWildcard
        : this.names.dlqSubject(subscriptionToken(filter.subscription));
    const found: DeadLetter[] = [];
    let seq = 1;
    for (;;) {
      const message = await this.store.nextMessage(this.names.dlqStream, seq, subject);
      if (message === undefined) break;
      seq = message.seq + 1;
      const dead = toDeadLetter(message.seq, message.data);
      if (dead === undefined) continue;
      if (filter.type !== undefined && dead.event.type !== filter.type) continue;
      found.push(dead);
    }
    return found.reverse().slice(0, filter.limit ?? 100);
  }

  async show(deliveryId: string): Promise<DeadLetter | undefined> {
    const seq = parseId(deliveryId);
    if (seq === undefined) return undefined;
    const message = await this.store.nextMessage(this.names.dlqStream, seq, undefined);
    if (message === undefined || message.seq !== seq) return undefined;
    return toDeadLetter(message.seq, message.data);
  }

  async replay(deliveryIds: readonly string[], options: { fresh?: boolean } = {}): Promise<number> {
    let replayed = 0;
    for (const id of deliveryIds) {
      const dead = await this.show(id);
      if (dead === undefined) continue;
      const subToken = subscriptionToken(dead.subscription);
      if (options.fresh === true) await forgetSteps(this.store, subToken, dead.event);
      // Published anew at the end of the stream, for this route only: it queues behind its key.
      // The message id makes a replay that is retried after a crash count once.
      await this.store.publisher.publish(
        this.names.eventSubject(dead.event, keyToken(dead.event.partitionkey)),
        JSON.stringify(dead.event),
        `replay-${this.names.dlqStream}-${id}-${eventMsgId(dead.event)}`,
        { [ONLY_HEADER]: subToken },
      );
      await this.store.jsm.streams.deleteMessage(this.names.dlqStream, Number(id), false);
      replayed++;
    }
    return replayed;
  }

  async purge(deliveryIds: readonly string[] | 'all'): Promise<number> {
    if (deliveryIds === 'all') {
      const response = await this.store.jsm.streams.purge(this.names.dlqStream);
      return response.purged;
    }
    let purged = 0;
    for (const id of deliveryIds) {
      const seq = parseId(id);
      if (seq === undefined || (await this.show(id)) === undefined) continue;
      if (await this.store.jsm.streams.deleteMessage(this.names.dlqStream, seq, false)) purged++;
    }
    return purged;
  }

  /** Dead letters per route, for `agentd status`. */
  async countBySubscription(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const dead of await this.list({ limit: Number.MAX_SAFE_INTEGER }))
      counts.set(dead.subscription, (counts.get(dead.subscription) ?? 0) + 1);
    return counts;
  }
}

function parseId(deliveryId: string): number | undefined {
  return /^\d{1,15}$/.test(deliveryId) ? Number(deliveryId) : undefined;
}

function toDeadLetter(seq: number, data: Uint8Array): DeadLetter | undefined {
  try {
    const record = JSON.parse(new TextDecoder().decode(data)) as DeadRecord;
    return { deliveryId: String(seq), ...record };
  } catch {
    return undefined;
  }
}
