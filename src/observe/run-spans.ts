// The spans of one delivery: `deliver <route>` (claim to settle, child of the event's traceparent),
// `handle <route>` inside it (the handler call; events the run emits name it as their parent),
// one `step <name>` per ctx.step and whatever the handler opens through ctx.trace.
import { SpanStatusCode } from '@opentelemetry/api';
import type { Delivery } from '../bus/bus.js';
import type { RunTracer, SpanAttributes, TraceSpan } from '../core/run-tracer.js';
import { RecordedSpan } from './recorded-span.js';
import { OwnedAttributes, SpanKind, traceparentOf, type Span, type Tracing } from './tracing.js';

/** A route's span names, made once: a name built per delivery is one more string to flatten. */
export class RouteSpanNames {
  readonly deliver: string;
  readonly handle: string;

  constructor(readonly route: string) {
    this.deliver = `deliver ${route}`;
    this.handle = `handle ${route}`;
  }
}

export class RunSpans implements RunTracer {
  private readonly deliver: Span;
  private handler: Span | undefined;
  private handlerEnded = false;
  private handlerParent: string | undefined;
  /** Steps running now; a handler span nests under the step only when exactly one is open. */
  private openSteps: Span[] | undefined;

  constructor(
    private readonly tracing: Tracing,
    private readonly names: RouteSpanNames,
    delivery: Delivery,
  ) {
    const event = delivery.event;
    // Few attributes, in an object the span takes as it is: each is exported on every delivery.
    this.deliver = tracing.startSpan(
      names.deliver,
      SpanKind.CONSUMER,
      event.traceparent,
      new OwnedAttributes(
        {
          'messaging.destination.name': names.route,
          'messaging.message.id': event.id,
          'agentd.event.type': event.type,
          'agentd.run.id': delivery.deliveryId,
          'agentd.run.attempt': delivery.attempt,
        },
        5,
      ),
    );
  }

  get traceId(): string {
    const deliver = this.deliver;
    return deliver instanceof RecordedSpan ? deliver.traceId : deliver.spanContext().traceId;
  }

  /** Opens the handler span as the handler is called, at `atMs` (performance.now()). */
  startHandler(atMs: number): void {
    this.handler = this.tracing.startChild(this.names.handle, this.deliver, undefined, atMs);
  }

  /** The traceparent naming the handler span (or the delivery span before the handler runs). */
  traceparent(): string {
    this.handlerParent ??= traceparentOf(this.handler ?? this.deliver);
    return this.handlerParent;
  }

  /** Ends the handler span, `durationMs` after it started when the caller measured that. */
  endHandler(error: unknown, durationMs?: number): void {
    const handler = this.handler;
    if (handler === undefined || this.handlerEnded) return;
    this.handlerEnded = true;
    if (error !== undefined) failSpan(handler, error);
    if (durationMs !== undefined && handler instanceof RecordedSpan)
      handler.endAt(handler.startMs + durationMs);
    else handler.end();
  }

  /** Ends the delivery span with how the attempt was settled (completed, retry, dead, ...). */
  end(outcome: string): void {
    this.endHandler(undefined);
    this.deliver.setAttribute('agentd.run.outcome', outcome);
    if (outcome === 'retry' || outcome === 'dead')
      this.deliver.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
    this.deliver.end();
  }

  /** Runs a ctx.step inside its span; `memoized` marks a result handed back from an earlier attempt. */
  async step<T>(name: string, run: (span: Span) => Promise<T>): Promise<T> {
    const span = this.tracing.startChild(
      `step ${name}`,
      this.handler ?? this.deliver,
      new OwnedAttributes({ 'agentd.step.name': name }, 1),
    );
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
    const span = this.tracing.startChild(name, only ?? this.handler ?? this.deliver, attributes);
    try {
      return await fn(span);
    } catch (error) {
      failSpan(span, error);
      throw error;
    } finally {
      span.end();
    }
  }
}

function failSpan(span: Span, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  if (error instanceof Error) span.recordException(error);
}
