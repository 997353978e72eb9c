// The span processor behind `observe.otlp`: each span is written into the next request's body the
// moment it ends, so no span waits in a queue (held spans outlive a young-generation collection and
// get copied, the main cost of batching them) and none is turned into an object tree. A body goes
// to the collector when it holds `maxBatch` spans or a second after its first; one request at a
// time, a few bodies waiting at most: past that, spans are dropped (and said so), memory never grows.
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { isPlainDelivery, type DeliveryRecord } from './delivery-record.js';
import type { BatchOrigin, OtlpBody } from './otlp-body.js';
import type { OtlpHttpSender } from './otlp-http-sender.js';
import { OtlpJsonBody } from './otlp-json.js';
import { OtlpProtoBody } from './otlp-proto.js';
import { RecordedSpan } from './recorded-span.js';

/** Bodies kept for reuse: one being written while one is sent is the steady state. */
const SPARE_BODIES = 2;

export interface OtlpBatcherOptions {
  /** Spans per request. Default 2,048. */
  maxBatch?: number;
  /** How long a body waits for more spans. Default 1 s. */
  delayMs?: number;
  /** Bodies waiting behind the one being sent; past them spans are dropped. Default 4. */
  maxWaiting?: number;
  /** Told when a body could not be sent, or spans were dropped (at most once per streak). */
  onError?: (error: Error) => void;
}

export class OtlpBatcher implements SpanProcessor {
  private body: OtlpBody | undefined;
  private spans = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly waiting: Array<{ body: OtlpBody; bytes: Buffer }> = [];
  /** Bodies sent, kept for the next: a fresh megabyte per batch costs page faults and GC work. */
  private readonly spare: OtlpBody[] = [];
  private sending: Promise<void> | undefined;
  /** Spans dropped since the last body that went out. */
  private dropped = 0;
  private closed = false;
  private readonly maxBatch: number;

  constructor(
    private readonly sender: OtlpHttpSender,
    /** All spans share it: the tracer that owns this processor makes them. */
    private readonly origin: BatchOrigin,
    private readonly options: OtlpBatcherOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 2_048;
  }

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    // Spans of this tracer are sampled (unsampled ones are never recorded); another's may not be.
    if (!(span instanceof RecordedSpan) && (span.spanContext().traceFlags & 1) === 0) return;
    this.bodyFor(1)?.add(span);
    this.added(1);
  }

  /** Whether addDelivery() can write this delivery's spans (else they come as span objects). */
  takes(record: DeliveryRecord): boolean {
    return this.sender.protocol === 'http/protobuf' && isPlainDelivery(record);
  }

  /** Writes a plain delivery's spans (see takes()) from its record. */
  addDelivery(record: DeliveryRecord): void {
    const spans = record.handler === undefined ? 1 : 2;
    (this.bodyFor(spans) as OtlpProtoBody | undefined)?.addDelivery(record);
    this.added(spans);
  }

  /** The body the next `spans` spans go into; none when they are dropped. */
  private bodyFor(spans: number): OtlpBody | undefined {
    if (this.closed) return undefined;
    if (this.body === undefined) {
      if (this.waiting.length >= (this.options.maxWaiting ?? 4)) {
        this.drop(spans);
        return undefined;
      }
      this.body = this.spare.pop() ?? this.newBody();
      this.body.begin();
      this.timer = setTimeout(() => this.seal(), this.options.delayMs ?? 1_000).unref();
    }
    return this.body;
  }

  /** Counts spans written into the body, sealing it when full. */
  private added(spans: number): void {
    if (this.body === undefined) return;
    this.spans += spans;
    if (this.spans >= this.maxBatch) this.seal();
  }

  /** Sends what has ended so far and waits for it to be sent (or given up on). */
  async forceFlush(): Promise<void> {
    this.seal();
    while (this.sending !== undefined) await this.sending;
  }

  /** Sends what is left, one attempt each, then closes the connections. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sender.stopRetrying();
    await this.forceFlush();
    this.sender.close();
  }

  /** Ends the body being written and queues it. */
  private seal(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.body === undefined) return;
    this.waiting.push({ body: this.body, bytes: this.body.end() });
    this.body = undefined;
    this.spans = 0;
    this.sending ??= this.pump();
  }

  private async pump(): Promise<void> {
    for (let next = this.waiting.shift(); next !== undefined; next = this.waiting.shift()) {
      try {
        await this.sender.post(next.bytes);
        this.dropped = 0;
      } catch (error) {
        this.options.onError?.(error instanceof Error ? error : new Error(String(error)));
      }
      // post() settles once nothing reads the body: its buffer can take the next one.
      if (this.spare.length < SPARE_BODIES) this.spare.push(next.body);
    }
    this.sending = undefined;
  }

  /** A body in the encoding the sender announces to the collector. */
  private newBody(): OtlpBody {
    return this.sender.protocol === 'http/protobuf'
      ? new OtlpProtoBody(this.origin, this.maxBatch)
      : new OtlpJsonBody(this.origin, this.maxBatch);
  }

  private drop(spans: number): void {
    if (this.dropped === 0)
      this.options.onError?.(
        new Error('the OTLP collector is not keeping up: spans are being dropped'),
      );
    this.dropped += spans;
  }
}
