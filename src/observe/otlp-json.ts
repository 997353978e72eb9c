// Spans as an OTLP/HTTP JSON request body (ExportTraceServiceRequest), written straight into UTF-8
// bytes (json-bytes.ts). The OTLP transformer builds an object tree per span and then stringifies
// it: the largest cost of tracing with no-op handlers, most of it in garbage.
import {
  SpanStatusCode,
  type Attributes,
  type AttributeValue,
  type Link,
} from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import { fragment, JsonBytes } from './json-bytes.js';
import {
  flagsOfSpan,
  isEncodable,
  RepeatedNames,
  RepeatedText,
  spanFlags,
  type BatchOrigin,
  type OtlpBody,
} from './otlp-body.js';
import { RecordedSpan } from './recorded-span.js';

// The fixed text of a span, encoded once.
const TRACE_ID = fragment('{"traceId":');
const SPAN_ID = fragment(',"spanId":');
const PARENT_SPAN_ID = fragment(',"parentSpanId":');
const TRACE_STATE = fragment(',"traceState":');
const NAME = fragment(',"name":');
const KIND = fragment(',"kind":');
const START = fragment(',"startTimeUnixNano":');
const END = fragment(',"endTimeUnixNano":');
const ATTRIBUTES = fragment(',"attributes":[');
const FLAGS = fragment(',"flags":');
// The same around ids known to be lowercase hex, with their quotes.
const OWN_TRACE_ID = fragment('{"traceId":"');
const OWN_SPAN_ID = fragment('","spanId":"');
const OWN_PARENT_SPAN_ID = fragment('","parentSpanId":"');
const OWN_NAME = fragment('","name":');
/** What an encoded span usually takes: a request's buffer is sized once for its batch. */
export const SPAN_BYTES = 512;

/**
 * The start of a request for spans of one resource and instrumentation scope, up to where the
 * spans go (comma-separated), then REQUEST_TAIL closes it.
 */
export function writeRequestHead(
  out: JsonBytes,
  resource: ReadableSpan['resource'],
  scope: ReadableSpan['instrumentationScope'],
): void {
  out.ascii('{"resourceSpans":[{"resource":{"attributes":[');
  writeAttributes(out, resource.attributes);
  out.ascii(']},"scopeSpans":[{');
  if (scope.schemaUrl !== undefined) out.ascii('"schemaUrl":').string(scope.schemaUrl).ascii(',');
  out.ascii('"scope":{"name":').string(scope.name);
  if (scope.version !== undefined) out.ascii(',"version":').string(scope.version);
  out.ascii('},"spans":[');
}

export const REQUEST_TAIL = ']}]}]}';

/** One request body of OTLP/JSON, reused from one batch to the next. */
export class OtlpJsonBody implements OtlpBody {
  private readonly out: JsonBytes;
  private first = true;

  constructor(
    private readonly origin: BatchOrigin,
    spans: number,
  ) {
    this.out = new JsonBytes(spans * SPAN_BYTES);
  }

  begin(): void {
    writeRequestHead(this.out.reset(), this.origin.resource, this.origin.instrumentationScope);
    this.first = true;
  }

  add(span: ReadableSpan): void {
    if (!this.first) this.out.ascii(',');
    this.first = false;
    writeSpan(this.out, span);
  }

  end(): Buffer {
    return this.out.ascii(REQUEST_TAIL).bytes();
  }
}

// proto3 JSON leaves out fields at their defaults (zero counts, empty lists, an unset status):
// less to write and to send.
export function writeSpan(out: JsonBytes, span: ReadableSpan): void {
  if (span instanceof RecordedSpan) writeOwnSpanHead(out, span);
  else writeSpanHead(out, span);
  if (hasAny(span.attributes)) {
    out.raw(ATTRIBUTES);
    writeAttributes(out, span.attributes);
    out.ascii(']');
  }
  if (span.droppedAttributesCount > 0)
    out.ascii(',"droppedAttributesCount":').number(span.droppedAttributesCount);
  if (span.events.length > 0) {
    out.ascii(',"events":[');
    span.events.forEach((event, i) => writeEvent(i === 0 ? out : out.ascii(','), event));
    out.ascii(']');
  }
  if (span.droppedEventsCount > 0)
    out.ascii(',"droppedEventsCount":').number(span.droppedEventsCount);
  if (span.links.length > 0) {
    out.ascii(',"links":[');
    span.links.forEach((link, i) => writeLink(i === 0 ? out : out.ascii(','), link));
    out.ascii(']');
  }
  if (span.droppedLinksCount > 0) out.ascii(',"droppedLinksCount":').number(span.droppedLinksCount);
  const { code, message } = span.status;
  if (code !== SpanStatusCode.UNSET || message !== undefined) {
    out.ascii(',"status":{"code":').number(code);
    if (message !== undefined) out.ascii(',"message":').string(message);
    out.ascii('}');
  }
  out.raw(FLAGS).number(flagsOfSpan(span)).ascii('}');
}

/** Ids, name, kind and times of a span another tracer made: checked and escaped as needed. */
function writeSpanHead(out: JsonBytes, span: ReadableSpan): void {
  const context = span.spanContext();
  writeId(out.raw(TRACE_ID), context.traceId);
  writeId(out.raw(SPAN_ID), context.spanId);
  const parentId = span.parentSpanContext?.spanId;
  if (parentId !== undefined && parentId !== '') writeId(out.raw(PARENT_SPAN_ID), parentId);
  const traceState = context.traceState?.serialize();
  if (traceState !== undefined && traceState !== '') out.raw(TRACE_STATE).string(traceState);
  out.raw(NAME).string(span.name);
  out.raw(KIND).number(span.kind + 1);
  out.raw(START).hrTime(span.startTime).raw(END).hrTime(span.endTime);
}

/**
 * The same for agentd's own spans, in fewer and larger pieces: their ids are lowercase hex already
 * (made here or taken from a validated traceparent), they carry no trace state, and their names
 * repeat (one fragment holds the name, the kind and the text up to the start time).
 */
function writeOwnSpanHead(out: JsonBytes, span: RecordedSpan): void {
  out.raw(OWN_TRACE_ID).ascii(span.traceId).raw(OWN_SPAN_ID).ascii(span.spanId);
  if (span.parentSpanId !== undefined) out.raw(OWN_PARENT_SPAN_ID).ascii(span.parentSpanId);
  const named = NAME_FRAGMENTS.get(span.name, span.kind);
  if (named === undefined)
    out
      .raw(OWN_NAME)
      .string(span.name)
      .raw(KIND)
      .number(span.kind + 1);
  else out.raw(named);
  out.raw(START).perfTime(span.startMs).raw(END).perfTime(span.endMs);
}

// Span names repeat (`deliver <route>`, `step <name>`): each, with its kind, is encoded once.
const NAME_FRAGMENTS = new RepeatedNames((name, kind) =>
  Buffer.from(`","name":${JSON.stringify(name)},"kind":${kind + 1}`, 'utf8'),
);

function writeEvent(out: JsonBytes, event: TimedEvent): void {
  out.ascii('{"timeUnixNano":').hrTime(event.time);
  out.ascii(',"name":').string(event.name);
  out.ascii(',"attributes":[');
  writeAttributes(out, event.attributes ?? {});
  out
    .ascii('],"droppedAttributesCount":')
    .number(event.droppedAttributesCount ?? 0)
    .ascii('}');
}

function writeLink(out: JsonBytes, link: Link): void {
  const { context } = link;
  writeId(out.ascii('{"traceId":'), context.traceId);
  writeId(out.ascii(',"spanId":'), context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState !== undefined && traceState !== '') out.ascii(',"traceState":').string(traceState);
  out.ascii(',"attributes":[');
  writeAttributes(out, link.attributes ?? {});
  out.ascii('],"droppedAttributesCount":').number(link.droppedAttributesCount ?? 0);
  out.ascii(',"flags":').number(spanFlags(context, context.isRemote)).ascii('}');
}

/** OTLP/JSON carries trace and span ids as hex; anything else is escaped, never spliced in raw. */
function writeId(out: JsonBytes, id: string): void {
  if (/^[0-9a-f]+$/.test(id)) out.ascii('"').ascii(id).ascii('"');
  else out.string(id);
}

function hasAny(attributes: Attributes): boolean {
  for (const key in attributes) if (attributes[key] !== undefined) return true;
  return false;
}

/** The attribute list's entries, without the brackets. */
function writeAttributes(out: JsonBytes, attributes: Attributes): void {
  let first = true;
  for (const key in attributes) {
    const value = attributes[key];
    if (value === undefined || !isEncodable(value)) continue;
    if (!first) out.ascii(',');
    first = false;
    const fragments = KEY_FRAGMENTS.get(key);
    if (fragments === undefined) {
      out.ascii('{"key":').string(key).ascii(',"value":');
      writeAnyValue(out, value);
      out.ascii('}');
    } else if (typeof value === 'string') out.raw(fragments.string).string(value).ascii('}}');
    else if (typeof value === 'number' && Number.isSafeInteger(value))
      out.raw(fragments.int).number(value).ascii('}}');
    else {
      out.raw(fragments.any);
      writeAnyValue(out, value);
      out.ascii('}');
    }
  }
}

/** A key's fixed text, in one piece with the start of its value's most usual kinds. */
interface KeyFragments {
  /** `{"key":"<key>","value":`, then any AnyValue and `}`. */
  any: Uint8Array;
  /** The same followed by `{"stringValue":`. */
  string: Uint8Array;
  /** The same followed by `{"intValue":`. */
  int: Uint8Array;
}

// Attribute keys repeat on every span: each is encoded once.
const KEY_FRAGMENTS = new RepeatedText<KeyFragments>((key) => {
  const any = `{"key":${JSON.stringify(key)},"value":`;
  return {
    any: Buffer.from(any, 'utf8'),
    string: Buffer.from(`${any}{"stringValue":`, 'utf8'),
    int: Buffer.from(`${any}{"intValue":`, 'utf8'),
  };
});

/** An OTLP AnyValue; proto3 JSON writes non-finite doubles as strings. */
function writeAnyValue(out: JsonBytes, value: AttributeValue | null | undefined): void {
  switch (typeof value) {
    case 'string':
      out.ascii('{"stringValue":').string(value).ascii('}');
      return;
    case 'boolean':
      out.ascii(value ? '{"boolValue":true}' : '{"boolValue":false}');
      return;
    case 'number':
      if (Number.isSafeInteger(value)) out.ascii('{"intValue":').number(value).ascii('}');
      else if (Number.isFinite(value)) out.ascii('{"doubleValue":').number(value).ascii('}');
      else out.ascii('{"doubleValue":"').ascii(String(value)).ascii('"}');
      return;
    default:
      if (!Array.isArray(value)) {
        out.ascii('{}');
        return;
      }
      out.ascii('{"arrayValue":{"values":[');
      value.forEach((item: unknown, i) => {
        if (i > 0) out.ascii(',');
        writeAnyValue(out, isEncodable(item) ? (item as AttributeValue) : null);
      });
      out.ascii(']}}');
  }
}
