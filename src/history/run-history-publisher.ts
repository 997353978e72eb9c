// Publishes each run status change on NATS for the history projection: core NATS publish, fire and
// forget — no ack is awaited, so the run path never waits on it, and a change that is lost (NATS
// away, the history stream missing) loses only that line of history, never the run.
import type { NatsConnection } from '@nats-io/transport-node';
import type { Delivery } from '../bus/bus.js';
import { subscriptionToken, type Names } from '../bus/nats/names.js';
import { describeError, RunCancelledError } from '../core/errors.js';
import type { Logger } from '../observe/log.js';
import type { RunHistory } from '../observe/run-observer.js';
import type { LiveRunStatus } from '../server/admin-types.js';
import type { HistoryMessage } from './history-message.js';

/** Lost changes are reported at most this often (a NATS outage would otherwise log per run). */
const REPORT_EVERY_MS = 60_000;

export class RunHistoryPublisher implements RunHistory {
  private readonly subjects = new Map<string, string>();
  private lost = 0;
  private reportedAt = -Infinity;

  constructor(
    private readonly nc: Pick<NatsConnection, 'publish'>,
    private readonly names: Pick<Names, 'historySubject'>,
    private readonly log: Logger,
  ) {}

  changed(
    route: string,
    delivery: Delivery,
    status: LiveRunStatus,
    failure: { error: unknown } | undefined,
  ): void {
    const message: HistoryMessage = {
      run: delivery.deliveryId,
      route,
      seq: runSeq(delivery.deliveryId),
      source: delivery.event.source,
      eventId: delivery.event.id,
      status,
      // A released or deferred attempt was not spent (the bus hands it out again as this attempt).
      attempt: status === 'queued' ? delivery.attempt - 1 : delivery.attempt,
      at: Date.now(),
    };
    if (status === 'running' && delivery.errors.length > 0) message.errors = [...delivery.errors];
    if (failure !== undefined) message.error = failureText(failure.error);
    try {
      this.nc.publish(this.subjectOf(route), JSON.stringify(message));
    } catch (error) {
      this.lose(error, route, delivery);
    }
  }

  private subjectOf(route: string): string {
    let subject = this.subjects.get(route);
    if (subject === undefined) {
      subject = this.names.historySubject(subscriptionToken(route));
      this.subjects.set(route, subject);
    }
    return subject;
  }

  private lose(error: unknown, route: string, delivery: Delivery): void {
    this.lost++;
    const now = Date.now();
    if (now - this.reportedAt < REPORT_EVERY_MS) return;
    this.reportedAt = now;
    this.log.warn(
      {
        err: error,
        route,
        runId: delivery.deliveryId,
        eventId: delivery.event.id,
        lost: this.lost,
      },
      'run history changes could not be published; the runs go on, their history misses them',
    );
    this.lost = 0;
  }
}

/** The run's stream sequence, from the NATS delivery id `<seq>@<route>`. */
function runSeq(deliveryId: string): number {
  const seq = Number(deliveryId.slice(0, deliveryId.indexOf('@')));
  return Number.isSafeInteger(seq) ? seq : 0;
}

/** The error as the bus records it (run-settlement.ts); a cancel gives why. */
function failureText(error: unknown): string {
  return error instanceof RunCancelledError ? error.reason : describeError(error);
}
