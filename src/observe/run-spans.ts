// The spans of one delivery: `deliver <route>` (claim to settle, child of the event's traceparent),
// `handle <route>` inside it (the handler call; events the run emits name it as their parent),
// one `step <name>` per ctx.step and whatever the handler opens through ctx.trace. The first two
// are this object's fields until the delivery is settled, then one record (delivery-record.ts);
// steps and the handler's own spans are span objects, children of those fields' ids.
import type { Delivery } from '../bus/bus.js';
import { newSpanId } from '../core/ids.js';
import type { RunTracer, SpanAttributes, TraceSpan } from '../core/run-tracer.js';
import {
  failSpan,
  type DeliveryRecord,
  type HandlerRecord,
  type RouteSpanNames,
} from './delivery-record.js';
import { OwnedAttributes, type Span, type Tracing } from './tracing.js';

export { RouteSpanNames } from './delivery-record.js';

export class RunSpans implements RunTracer, DeliveryRecord {
  readonly traceId: string;
  readonly parentSpanId: string | undefined;
  readonly parentFlags: number;
  readonly startMs: number;
  endMs = 0;
  readonly eventId: string;
  readonly eventType: string;
  readonly runId: string;
  readonly attempt: number;
  outcome = 'unsettled';
  handler: HandlerRecord | undefined;
  /** Whether this trace is recorded (unsampled, its ids are still passed on). */
  private readonly sampled: boolean;
  /** The handler span's id from the moment the handler is called. */
  private handlerSpanId: string | undefined;
  /** Whether the handler was called (its span id is made when first needed). */
  private handlerStarted = false;
  private deliverId: string | undefined;
  private handlerStartMs = 0;
  private ended = false;
  private handlerParent: string | undefined;
  /** Steps running now; a handler span nests under the step only when exactly one is open. */
  private openSteps: Span[] | undefined;

  constructor(
    private readonly tracing: Tracing,
    readonly names: RouteSpanNames,
    delivery: Delivery,
  ) {
    const event = delivery.event;
    this.startMs = performance.now();
    const trace = tracing.join(event.traceparent);
    this.traceId = trace.traceId;
    this.sampled = trace.sampled;
    this.parentSpanId = trace.parentSpanId;
    this.parentFlags = trace.parentFlags;
    this.eventId = event.id;
    this.eventType = event.type;
    this.runId = delivery.deliveryId;
    this.attempt = delivery.attempt;
  }

  /** The delivery span's id, made when first needed (an unsampled run may never need it). */
  get deliverSpanId(): string {
    this.deliverId ??= newSpanId();
    return this.deliverId;
  }

  /** Opens the handler span as the handler is called, at `atMs` (performance.now()). */
  startHandler(atMs: number): void {
    this.handlerStarted = true;
    this.handlerStartMs = atMs;
  }

  /** The traceparent naming the handler span (or the delivery span before the handler runs). */
  traceparent(): string {
    this.handlerParent ??= `00-${this.traceId}-${this.parentOfChildren()}-${this.sampled ? '01' : '00'}`;
    return this.handlerParent;
  }

  /** Ends the handler span, `durationMs` after it started when the caller measured that. */
  endHandler(error: unknown, durationMs?: number): void {
    // Unsampled, nothing is recorded: the span ends as nothing.
    if (!this.sampled || !this.handlerStarted || this.handler !== undefined) return;
    const spanId = (this.handlerSpanId ??= newSpanId());
    const endMs = durationMs === undefined ? performance.now() : this.handlerStartMs + durationMs;
    this.handler = {
      spanId,
      startMs: this.handlerStartMs,
      endMs: Math.max(this.handlerStartMs, endMs),
      failure: error === undefined ? undefined : { error },
    };
  }

  /** Ends the delivery span with how the attempt was settled (completed, retry, dead, ...). */
  end(outcome: string): void {
    if (this.ended) return;
    this.ended = true;
    this.endHandler(undefined);
    this.outcome = outcome;
    this.endMs = Math.max(this.startMs, performance.now());
    if (this.sampled) this.tracing.endDelivery(this);
  }

  /** Runs a ctx.step inside its span; `memoized` marks a result handed back from an earlier attempt. */
  async step<T>(name: string, run: (span: Span) => Promise<T>): Promise<T> {
    const span = this.child(`step ${name}`, new OwnedAttributes({ 'agentd.step.name': name }, 1));
    const open = (this.openSteps ??= []);
    open.push(span);
    try {
      return await run(span);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      open.splice(open.indexOf(span), 1);
      span.end();
    }
  }

  async span<T>(
    name: string,
    attributes: SpanAttributes | undefined,
    fn: (span: TraceSpan) => T | Promise<T>,
  ): Promise<T> {
    const only = this.openSteps?.length === 1 ? this.openSteps[0] : undefined;
    const span =
      only === undefined
        ? this.child(name, attributes)
        : this.tracing.startChild(name, only, attributes);
    try {
      return await fn(span);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  }

  /** The span children belong under: the handler's once it was called, else the delivery's. */
  private parentOfChildren(): string {
    if (this.handlerStarted) this.handlerSpanId ??= newSpanId();
    return this.handlerSpanId ?? this.deliverSpanId;
  }

  private child(name: string, attributes: SpanAttributes | OwnedAttributes | undefined): Span {
    return this.tracing.startChildOf(
      name,
      this.traceId,
      this.parentOfChildren(),
      this.sampled,
      attributes,
    );
  }
}
