// Making a message that holds its key (or has none) ready to hand out: its attempt worked out, a run
// whose ack was staged already finished, the route's governor options applied (route-governor.ts:
// ended without a run, or deferred), an early delayed delivery held back, a last attempt whose lease
// expired dead-lettered.
import { DELIVER_AT_HEADER } from './names.js';
import {
  finishAck,
  NatsDelivery,
  releaseKey,
  type DeliveryHost,
  type Held,
} from './nats-delivery.js';
import type { RouteGovernor } from './route-governor.js';
import { attemptOf, EMPTY_RECORD, LEASE_EXPIRED, withSkip, type RunEnding } from './run-records.js';

export interface PreparationHost extends DeliveryHost {
  readonly governor: RouteGovernor | undefined;
  /** Drops a message from the subscription's books and lets the next one of its key try. */
  forget(held: Held): void;
  makeReady(held: Held): void;
}

export async function prepareHeld(host: PreparationHost, held: Held): Promise<void> {
  const { msg, runSeq } = held;
  const { records, governor } = host;
  const again = msg.deliveryCount > 1 || held.resumes !== undefined;
  if (again || msg.header(DELIVER_AT_HEADER) !== undefined) {
    const [record, staged] = await Promise.all([
      records.load(runSeq),
      again ? records.stagedAck(runSeq) : undefined,
    ]);
    held.record = record;
    if (staged !== undefined) {
      // The run finished (its ack was staged) but the ack did not complete: complete it.
      held.state = 'out';
      await finishAck(host, held, staged);
      return host.forget(held);
    }
  }
  const now = Date.now();
  const record = held.record ?? EMPTY_RECORD;
  const { attempt, errors } = attemptOf(msg.seq, runSeq, msg.deliveryCount, record, now);
  const verdict = governor === undefined ? undefined : await governor.atHead(held, record, attempt);
  if (verdict?.kind === 'end')
    return endUnrun(host, held, verdict.ending, verdict.recorded, verdict.burst);
  const deliverAt = Math.max(
    Number(msg.header(DELIVER_AT_HEADER) ?? 0),
    verdict?.kind === 'defer' ? now + verdict.delayMs : 0,
  );
  if (deliverAt > now + 2) {
    // Not an attempt: count it as a skip. A keyed one keeps its key while it waits.
    await records.save(runSeq, withSkip(record, msg.seq, runSeq));
    msg.nak(deliverAt - now);
    return host.forget(held);
  }
  held.delivery = new NatsDelivery(host, held, attempt, errors);
  const last = host.options.maxAttempts;
  if (attempt > last) {
    // Its last attempt's lease expired: dead-letter it as the SQLite bus does.
    held.state = 'out';
    const reason = `${LEASE_EXPIRED} (attempt ${last} of ${last})`;
    await host.deadLetter(held, last, reason, errors.slice(0, last));
    await releaseKey(host, held);
    msg.term();
    return host.forget(held);
  }
  host.makeReady(held);
}

/**
 * Ends a message that holds its key (or has none) as skipped or cancelled, without a run: recorded
 * (unless it was when decided), its key passed on — with the burst when debounce superseded it.
 */
export async function endUnrun(
  host: PreparationHost,
  held: Held,
  ending: RunEnding,
  recorded: boolean,
  burst?: number,
): Promise<void> {
  if (!recorded)
    await host.records.save(held.runSeq, { ...(held.record ?? EMPTY_RECORD), ended: ending });
  // Not holding the key any more (a newer delivery of it took over) leaves the message to that one.
  if (await releaseKey(host, held, burst)) held.msg.ack();
  host.forget(held);
}
