// Talking to one durable pull consumer: `CONSUMER.MSG.NEXT` requests on an inbox of our own, one at
// a time, each done when its batch is full, the server ends it (404 none, 408 expired) or it was
// lost with a restarted server. Any waiting time below 5 ms becomes a no_wait request.
import { createInbox, type Msg, type Subscription } from '@nats-io/transport-node';
import { pullStatus, toJetStreamMsg, type JetStreamMsg } from './jetstream-msg.js';
import type { NatsStore } from './nats-store.js';

interface PullRequest {
  batch: number;
  received: number;
  /** The last message said the consumer had more for delivery. */
  morePending: boolean;
  /** Work each message of the request started (admission); the request settles after it. */
  work: Promise<void>[];
  finish: () => void;
}

export class PullConsumer {
  /** True once the server said the consumer is gone (the route was removed elsewhere). */
  deleted = false;
  private readonly inbox = createInbox();
  private readonly subscription: Subscription;
  private request: PullRequest | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly store: NatsStore,
    private readonly stream: string,
    private readonly consumer: string,
    /** Called for every message; the promise it returns counts as part of the request. */
    private readonly onMessage: (msg: JetStreamMsg) => Promise<void> | undefined,
    private readonly onError: (error: unknown) => void,
  ) {
    this.subscription = store.nc.subscribe(this.inbox, {
      callback: (_err, msg) => this.intake(msg),
    });
  }

  /**
   * True while the request under way has more messages on the wire: the last one said the
   * consumer had more pending and the batch is not full yet.
   */
  get moreComing(): boolean {
    const request = this.request;
    return request !== undefined && request.morePending && request.received < request.batch;
  }

  /** The request under way, if any: resolves once it ended and its messages were handled. */
  get fetching(): Promise<void> | undefined {
    return this.inFlight;
  }

  /** Asks for up to `batch` messages, waiting up to `waitMs` for them. */
  fetch(batch: number, waitMs: number): Promise<void> {
    if (this.inFlight !== undefined) return this.inFlight;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const request: PullRequest = { batch, received: 0, morePending: false, work: [], finish };
    this.request = request;
    const body =
      waitMs <= 5 ? { batch, no_wait: true } : { batch, expires: Math.round(waitMs) * 1_000_000 };
    try {
      this.store.nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${this.stream}.${this.consumer}`,
        JSON.stringify(body),
        { reply: this.inbox },
      );
    } catch (error) {
      this.onError(error);
      finish();
    }
    // A request the server forgot (it restarted) ends here instead of never.
    const guard = setTimeout(finish, Math.max(0, waitMs) + 2_000);
    this.inFlight = finished
      .then(() => Promise.allSettled(request.work))
      .then(() => {
        clearTimeout(guard);
        if (this.request === request) this.request = undefined;
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  close(): void {
    this.request?.finish();
    this.subscription.unsubscribe();
  }

  private intake(msg: Msg): void {
    const request = this.request;
    const status = pullStatus(msg);
    if (status !== undefined) {
      if ((status.code === 409 && /deleted/i.test(status.description)) || status.code === 503)
        this.deleted = true;
      if (status.code >= 400) {
        if (request !== undefined) request.morePending = false;
        request?.finish();
      }
      return;
    }
    const jm = toJetStreamMsg(this.store.nc, msg);
    if (jm === undefined) return;
    if (request !== undefined) {
      request.morePending = jm.pending > 0;
      if (++request.received >= request.batch) request.finish();
    }
    const work = this.onMessage(jm);
    if (work !== undefined) request?.work.push(work);
  }
}
