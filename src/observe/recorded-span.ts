// One span as agentd records it: the OpenTelemetry API's Span to the code writing to it, the SDK's
// ReadableSpan to the span processors and exporters reading it. The SDK's own span costs about 3 µs
// (limits objects, attribute copies, clock anchoring, its metrics hooks): with no-op handlers that
// alone was 12% of throughput, over the 10% budget for all of observability. This one keeps the
// SDK's semantics (limits, status rules, exception events) at a fraction of the cost.
import {
  SpanStatusCode,
  TraceFlags,
  type Attributes,
  type AttributeValue,
  type Exception,
  type HrTime,
  type Link,
  type Span,
  type SpanAttributes,
  type SpanContext,
  type SpanKind,
  type SpanStatus,
  type TimeInput,
} from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, SpanProcessor, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { hrTimeOf, perfMsOf } from './perf-time.js';

/** The SDK's default limits: past them attributes are dropped and the oldest events and links. */
const MAX_ATTRIBUTES = 128;
const MAX_EVENTS = 128;
const MAX_LINKS = 128;

/** What every span of one tracer shares. */
export interface SpanOrigin {
  resource: Resource;
  instrumentationScope: ReadableSpan['instrumentationScope'];
  processor: SpanProcessor;
}

// Most spans get no links or events and keep an unset status: they share these until they do.
const NO_LINKS: Link[] = [];
const NO_EVENTS: TimedEvent[] = [];
const UNSET: SpanStatus = Object.freeze({ code: SpanStatusCode.UNSET });

/**
 * Attributes a span takes as they are, neither copied nor checked: agentd's own, in a fresh object
 * of valid values. Copying them key by key costs about as much as the rest of starting a span.
 */
export class OwnedAttributes {
  constructor(
    readonly values: Attributes,
    /** How many there are (counting keys would cost an array per span). */
    readonly count: number,
  ) {}
}

/** Who a span is and whose child: plain fields, the SpanContext objects made only when asked. */
export interface SpanIdentity {
  traceId: string;
  spanId: string;
  /** The parent's span id, when it has a parent. */
  parentSpanId: string | undefined;
  /** The parent came from another process (an event's traceparent). */
  parentRemote: boolean;
  /** The parent's W3C trace flags (a remote parent's as its traceparent gave them). */
  parentFlags: number;
}

export class RecordedSpan implements Span, ReadableSpan {
  readonly attributes: Attributes;
  links: Link[] = NO_LINKS;
  events: TimedEvent[] = NO_EVENTS;
  status: SpanStatus = UNSET;
  droppedAttributesCount = 0;
  droppedEventsCount = 0;
  droppedLinksCount = 0;
  ended = false;
  private attributeCount = 0;
  /**
   * performance.now() milliseconds: cheap to take, and the encoders write them as they are
   * (perf-time.ts): no HrTime array per span unless someone reads startTime.
   */
  readonly startMs: number;
  endMs = 0;
  // Ids as fields (every span made here is sampled): the encoders read them, and the SpanContext
  // objects the API hands out are made on first request, which most spans never see.
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly parentRemote: boolean;
  protected readonly parentFlags: number;
  private context: SpanContext | undefined;

  constructor(
    private readonly origin: SpanOrigin,
    public name: string,
    readonly kind: SpanKind,
    identity: SpanIdentity,
    attributes: SpanAttributes | OwnedAttributes | undefined,
    /** When it started, as performance.now() milliseconds (a clock read the caller made anyway). */
    startMs: number,
  ) {
    this.startMs = startMs;
    this.traceId = identity.traceId;
    this.spanId = identity.spanId;
    this.parentSpanId = identity.parentSpanId;
    this.parentRemote = identity.parentRemote;
    this.parentFlags = identity.parentFlags;
    if (attributes instanceof OwnedAttributes) {
      this.attributes = attributes.values;
      this.attributeCount = attributes.count;
    } else {
      this.attributes = {};
      if (attributes !== undefined) this.setAttributes(attributes);
    }
  }

  get resource(): Resource {
    return this.origin.resource;
  }

  get instrumentationScope(): ReadableSpan['instrumentationScope'] {
    return this.origin.instrumentationScope;
  }

  get startTime(): HrTime {
    return hrTimeOf(this.startMs);
  }

  get endTime(): HrTime {
    return this.ended ? hrTimeOf(this.endMs) : [0, 0];
  }

  get duration(): HrTime {
    if (!this.ended) return [0, 0];
    const ms = this.endMs - this.startMs;
    const seconds = Math.floor(ms / 1_000);
    return [seconds, Math.round((ms - seconds * 1_000) * 1e6)];
  }

  spanContext(): SpanContext {
    this.context ??= { traceId: this.traceId, spanId: this.spanId, traceFlags: TraceFlags.SAMPLED };
    return this.context;
  }

  isRecording(): boolean {
    return !this.ended;
  }

  setAttribute(key: string, value: unknown): this {
    if (this.ended || key.length === 0 || !isAttributeValue(value)) return this;
    if (!(key in this.attributes)) {
      if (this.attributeCount >= MAX_ATTRIBUTES) {
        this.droppedAttributesCount++;
        return this;
      }
      this.attributeCount++;
    }
    this.attributes[key] = Array.isArray(value) ? value.slice() : value;
    return this;
  }

  setAttributes(attributes: SpanAttributes): this {
    for (const key in attributes) this.setAttribute(key, attributes[key]);
    return this;
  }

  addEvent(name: string, attributesOrTime?: SpanAttributes | TimeInput, time?: TimeInput): this {
    if (this.ended) return this;
    const timeGiven = isTimeInput(attributesOrTime);
    const attributes: Attributes = {};
    if (!timeGiven && attributesOrTime !== undefined)
      for (const key in attributesOrTime) {
        const value = attributesOrTime[key];
        if (isAttributeValue(value)) attributes[key] = value;
      }
    if (this.events === NO_EVENTS) this.events = [];
    if (this.events.length >= MAX_EVENTS) {
      this.events.shift();
      this.droppedEventsCount++;
    }
    this.events.push({
      name,
      attributes,
      time: hrTimeOf(perfMsOf(timeGiven ? attributesOrTime : time)),
      droppedAttributesCount: 0,
    });
    return this;
  }

  addLink(link: Link): this {
    if (this.ended) return this;
    if (this.links === NO_LINKS) this.links = [];
    if (this.links.length >= MAX_LINKS) {
      this.links.shift();
      this.droppedLinksCount++;
    }
    this.links.push(link);
    return this;
  }

  addLinks(links: Link[]): this {
    for (const link of links) this.addLink(link);
    return this;
  }

  /** The SDK's rules: UNSET changes nothing, OK is final, only ERROR carries a message. */
  setStatus(status: SpanStatus): this {
    if (this.ended || status.code === SpanStatusCode.UNSET) return this;
    if (this.status.code === SpanStatusCode.OK) return this;
    this.status =
      status.code === SpanStatusCode.ERROR && typeof status.message === 'string'
        ? { code: status.code, message: status.message }
        : { code: status.code };
    return this;
  }

  updateName(name: string): this {
    if (!this.ended) this.name = name;
    return this;
  }

  /** An `exception` event with the semantic-convention attributes, as the SDK records it. */
  recordException(exception: Exception, time?: TimeInput): void {
    const attributes: SpanAttributes = {};
    if (typeof exception === 'string') attributes['exception.message'] = exception;
    else {
      const type = exception.code?.toString() ?? exception.name;
      if (type !== undefined && type !== '') attributes['exception.type'] = type;
      if (exception.message !== undefined && exception.message !== '')
        attributes['exception.message'] = exception.message;
      if (exception.stack !== undefined) attributes['exception.stacktrace'] = exception.stack;
    }
    if (attributes['exception.type'] !== undefined || attributes['exception.message'] !== undefined)
      this.addEvent('exception', attributes, time);
  }

  end(endTime?: TimeInput): void {
    this.endAt(perfMsOf(endTime));
  }

  /** Ends the span at `endMs`, performance.now() milliseconds. */
  endAt(endMs: number): void {
    if (this.ended) return;
    this.endMs = Math.max(this.startMs, endMs);
    this.ended = true;
    this.origin.processor.onEnd(this);
  }
}

/** A span with a parent: its SpanContext, too, is made only when asked for. */
export class RecordedChildSpan extends RecordedSpan {
  get parentSpanContext(): SpanContext {
    return {
      traceId: this.traceId,
      spanId: this.parentSpanId as string,
      traceFlags: this.parentFlags,
      isRemote: this.parentRemote,
    };
  }
}

function isTimeInput(value: unknown): value is TimeInput {
  return (
    typeof value === 'number' ||
    value instanceof Date ||
    (Array.isArray(value) && value.length === 2 && typeof value[0] === 'number')
  );
}

/** A primitive, or an array of one primitive type (nulls allowed), as OpenTelemetry allows. */
function isAttributeValue(value: unknown): value is AttributeValue {
  const type = typeof value;
  if (type === 'string' || type === 'number' || type === 'boolean') return true;
  if (!Array.isArray(value)) return false;
  let kind: string | undefined;
  for (const item of value as unknown[]) {
    if (item === null || item === undefined) continue;
    const itemType = typeof item;
    if (itemType !== 'string' && itemType !== 'number' && itemType !== 'boolean') return false;
    kind ??= itemType;
    if (itemType !== kind) return false;
  }
  return true;
}
