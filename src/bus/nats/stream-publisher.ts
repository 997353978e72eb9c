// Pipelined JetStream publishes: every publish goes out at once with a reply subject under one
// inbox of ours, and its PubAck (or error) comes back there. One subscription for all of them is
// several times faster than a request per publish, and keeps the call order on the wire.
import {
  createInbox,
  headers as natsHeaders,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { BusUnavailableError } from '../../core/errors.js';

export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

interface Pending {
  resolve: (ack: PubAck) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export class StreamPublisher {
  private readonly inbox = createInbox();
  private readonly subscription: Subscription;
  private readonly pending = new Map<string, Pending>();
  private next = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.subscription = nc.subscribe(`${this.inbox}.*`, {
      callback: (_err, msg) => this.answer(msg),
    });
  }

  /** Stores one message; `msgId` becomes Nats-Msg-Id, so a repeat is reported as a duplicate. */
  publish(
    subject: string,
    data: string,
    msgId: string,
    extraHeaders: Record<string, string> = {},
  ): Promise<PubAck> {
    const token = String(this.next++);
    const h = natsHeaders();
    h.set('Nats-Msg-Id', msgId);
    for (const [name, value] of Object.entries(extraHeaders)) h.set(name, value);
    return new Promise<PubAck>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(
          new BusUnavailableError(
            `NATS did not confirm a publish to ${subject} within ${this.timeoutMs} ms; it may or may not be stored (a retry is deduplicated)`,
          ),
        );
      }, this.timeoutMs);
      this.pending.set(token, { resolve, reject, timer });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: h });
      } catch (error) {
        clearTimeout(timer);
        this.pending.delete(token);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  close(): void {
    this.subscription.unsubscribe();
    for (const [token, waiting] of this.pending) {
      clearTimeout(waiting.timer);
      waiting.reject(new BusUnavailableError('the bus closed before NATS confirmed a publish'));
      this.pending.delete(token);
    }
  }

  private answer(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const waiting = this.pending.get(token);
    if (waiting === undefined) return;
    this.pending.delete(token);
    clearTimeout(waiting.timer);
    const status = msg.headers?.code ?? 0;
    if (status === 503) {
      waiting.reject(new BusUnavailableError('JetStream is not answering (no responders)'));
      return;
    }
    try {
      const body = msg.json<{
        stream?: string;
        seq?: number;
        duplicate?: boolean;
        error?: { code: number; description?: string };
      }>();
      if (body.error !== undefined || body.seq === undefined) {
        const why = body.error?.description ?? `error ${body.error?.code ?? status}`;
        waiting.reject(
          body.error?.code === 503
            ? new BusUnavailableError(`JetStream is unavailable: ${why}`)
            : new Error(`JetStream refused a publish: ${why}`),
        );
        return;
      }
      waiting.resolve({
        stream: body.stream ?? '',
        seq: body.seq,
        duplicate: body.duplicate === true,
      });
    } catch (error) {
      waiting.reject(error as Error);
    }
  }
}
