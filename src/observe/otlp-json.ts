// Spans as an OTLP/HTTP JSON request body (ExportTraceServiceRequest), written straight into UTF-8
// bytes (json-bytes.ts). The OTLP transformer builds an object tree per span and then stringifies
// it: the largest cost of tracing with no-op handlers, most of it in garbage.
import {
  SpanStatusCode,
  type Attributes,
  type AttributeValue,
  type Link,
  type SpanContext,
} from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import type { JsonBytes } from './json-bytes.js';
import { RecordedSpan } from './recorded-span.js';

// OTLP span flags: the W3C trace flags in the low byte, then "is remote is known" and "is remote".
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;
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

// proto3 JSON leaves out fields at their defaults (zero counts, empty lists, an unset status):
// less to write and to send.
export function writeSpan(out: JsonBytes, span: ReadableSpan): void {
  const context = span.spanContext();
  const parent = span.parentSpanContext;
  // Ours carry ids agentd made or took from a validated traceparent: lowercase hex already.
  const trusted = span instanceof RecordedSpan;
  writeId(out.ascii('{"traceId":'), context.traceId, trusted);
  writeId(out.ascii(',"spanId":'), context.spanId, trusted);
  if (parent?.spanId !== undefined && parent.spanId !== '')
    writeId(out.ascii(',"parentSpanId":'), parent.spanId, trusted);
  const traceState = context.traceState?.serialize();
  if (traceState !== undefined && traceState !== '') out.ascii(',"traceState":').string(traceState);
  out.ascii(',"name":').string(span.name);
  out.ascii(',"kind":').number(span.kind + 1);
  out.ascii(',"startTimeUnixNano":').unixNanos(span.startTime);
  out.ascii(',"endTimeUnixNano":').unixNanos(span.endTime);
  if (hasAny(span.attributes)) {
    out.ascii(',"attributes":[');
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
  out.ascii(',"flags":').number(flags(context, parent?.isRemote)).ascii('}');
}

function writeEvent(out: JsonBytes, event: TimedEvent): void {
  out.ascii('{"timeUnixNano":').unixNanos(event.time);
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
  writeId(out.ascii('{"traceId":'), context.traceId, false);
  writeId(out.ascii(',"spanId":'), context.spanId, false);
  const traceState = context.traceState?.serialize();
  if (traceState !== undefined && traceState !== '') out.ascii(',"traceState":').string(traceState);
  out.ascii(',"attributes":[');
  writeAttributes(out, link.attributes ?? {});
  out.ascii('],"droppedAttributesCount":').number(link.droppedAttributesCount ?? 0);
  out.ascii(',"flags":').number(flags(context, context.isRemote)).ascii('}');
}

function flags(context: SpanContext, remote: boolean | undefined): number {
  return (context.traceFlags & 0xff) | HAS_IS_REMOTE | (remote === true ? IS_REMOTE : 0);
}

/** OTLP/JSON carries trace and span ids as hex; anything else is escaped, never spliced in raw. */
function writeId(out: JsonBytes, id: string, trusted: boolean): void {
  if (trusted || /^[0-9a-f]+$/.test(id)) out.ascii('"').ascii(id).ascii('"');
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
    out
      .ascii(first ? '{"key":' : ',{"key":')
      .string(key)
      .ascii(',"value":');
    writeAnyValue(out, value);
    out.ascii('}');
    first = false;
  }
}

function isEncodable(value: unknown): boolean {
  const type = typeof value;
  return type === 'string' || type === 'number' || type === 'boolean' || Array.isArray(value);
}

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
