// A message handed out by a JetStream pull consumer: its metadata (read off the ack subject) and
// the acknowledgements that steer it (+ACK, -NAK with delay, +WPI to extend, +TERM).
import type { Msg, NatsConnection } from '@nats-io/transport-node';

export interface JetStreamMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  header(name: string): string | undefined;
  /** Stream sequence: the message's place in publish order. */
  readonly seq: number;
  /** How many times the server has handed this message out, 1 the first time. */
  readonly deliveryCount: number;
  /** The consumer's delivery sequence: one per delivery to any puller, in delivery order. */
  readonly dseq: number;
  /** When the message was stored (ms since the epoch). */
  readonly storedAt: number;
  /** Messages the consumer still had for delivery after this one, when it was sent. */
  readonly pending: number;
  ack(): void;
  nak(delayMs?: number): void;
  /** Resets the server's ack timer (the lease); `flush()` the connection to know it arrived. */
  working(): void;
  /** Stops redelivery for good. (No reason text: nats-server 2.9 ignores `+TERM <reason>`.) */
  term(): void;
}

const encoder = new TextEncoder();

export function toJetStreamMsg(nc: NatsConnection, msg: Msg): JetStreamMsg | undefined {
  const reply = msg.reply;
  if (reply === undefined || !reply.startsWith('$JS.ACK.')) return undefined;
  const tokens = reply.split('.');
  // $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending> (servers before 2.10), or
  // $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>.<x>.
  const at = tokens.length === 9 ? 4 : 6;
  const deliveryCount = Number(tokens[at]);
  const seq = Number(tokens[at + 1]);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(deliveryCount)) return undefined;
  const send = (payload: string) => nc.publish(reply, encoder.encode(payload));
  return {
    subject: msg.subject,
    data: msg.data,
    header: (name) => msg.headers?.get(name) || undefined,
    seq,
    deliveryCount,
    dseq: Number(tokens[at + 2]),
    storedAt: Math.floor(Number(tokens[at + 3]) / 1_000_000),
    pending: Number(tokens[at + 4] ?? 0) || 0,
    ack: () => send('+ACK'),
    nak: (delayMs) =>
      send(
        delayMs === undefined || delayMs <= 0
          ? '-NAK'
          : `-NAK ${JSON.stringify({ delay: Math.round(delayMs) * 1_000_000 })}`,
      ),
    working: () => send('+WPI'),
    term: () => send('+TERM'),
  };
}

/** The status of a pull request carried in a header-only message (404 no messages, 408 expired...). */
export function pullStatus(msg: Msg): { code: number; description: string } | undefined {
  const headers = msg.headers;
  if (headers === undefined || msg.data.length > 0 || headers.code === 0) return undefined;
  return { code: headers.code, description: headers.description };
}
