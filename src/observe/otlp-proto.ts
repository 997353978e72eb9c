// Spans as an OTLP/HTTP protobuf request body (ExportTraceServiceRequest, application/x-protobuf),
// written into a reused buffer as each span ends: binary ids and fixed64 times where OTLP/JSON
// has hex and decimal strings, about half the bytes and less work. Fields are written in the
// official serializer's order, zero counts and status included, so the bodies are byte for byte
// the same as @opentelemetry/otlp-transformer's (the test compares them).
import type { SpanKind } from '@opentelemetry/api';
import { type Attributes, type AttributeValue, type Link } from '@opentelemetry/api';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace-base';
import {
  flagsOfSpan,
  isEncodable,
  spanFlags,
  type BatchOrigin,
  type OtlpBody,
} from './otlp-body.js';
import type { DeliveryRecord } from './delivery-record.js';
import { writeDelivery } from './otlp-proto-delivery.js';
import { copy, KEY_FIELDS, SPAN_FLAGS, SPANS, writeName, writeTimes } from './otlp-proto-fields.js';
import { FIXED32, FIXED64, LENGTH, ProtoBytes, tag, VARINT, varintSize } from './proto-bytes.js';
import { RecordedSpan } from './recorded-span.js';

/** What an encoded span usually takes: a request's buffer is sized once for its batch. */
const PROTO_SPAN_BYTES = 256;

// ExportTraceServiceRequest.resource_spans, ResourceSpans.scope_spans.
const RESOURCE_SPANS = tag(1, LENGTH);
const SCOPE_SPANS = tag(2, LENGTH);
// Before the first span, besides resource and scope: two tags and two lengths of up to 5 bytes.
const HEAD_ROOM = 12;

/** One request body of OTLP protobuf, reused from one batch to the next. */
export class OtlpProtoBody implements OtlpBody {
  private readonly out: ProtoBytes;
  /** ResourceSpans.resource and ScopeSpans.scope, each with its tag and length: the same for every body. */
  private readonly resource: Uint8Array;
  private readonly scope: Uint8Array;
  /** The schema URLs, which the official serializer writes after the spans. */
  private readonly scopeTail: Uint8Array;
  private readonly resourceTail: Uint8Array;
  /** Where the first span goes: the head is put before it once its lengths are known. */
  private readonly spansAt: number;
  private readonly head = new ProtoBytes(0);

  constructor(origin: BatchOrigin, spans: number) {
    const scratch = new ProtoBytes(0);
    const { resource, instrumentationScope: scope } = origin;
    let at = scratch.byte(tag(1, LENGTH)).open(1);
    writeAttributes(scratch, resource.attributes, 1);
    // Resource.dropped_attributes_count, written as 0 as the official serializer does.
    this.resource = copy(scratch.byte(tag(2, VARINT)).byte(0).close(at, 1), 0);
    scratch.reset();
    at = scratch.byte(tag(1, LENGTH)).open(1);
    scratch.byte(tag(1, LENGTH)).string(scope.name);
    if (scope.version) scratch.byte(tag(2, LENGTH)).string(scope.version);
    this.scope = copy(scratch.close(at, 1), 0);
    this.scopeTail = schemaUrl(scratch.reset(), scope.schemaUrl);
    this.resourceTail = schemaUrl(scratch.reset(), resource.schemaUrl);
    this.spansAt = HEAD_ROOM + this.resource.length + this.scope.length;
    this.out = new ProtoBytes(this.spansAt + spans * PROTO_SPAN_BYTES);
  }

  begin(): void {
    this.out.reset(this.spansAt);
  }

  add(span: ReadableSpan): void {
    writeSpan(this.out.byte(SPANS), span);
  }

  /** A plain delivery's two spans, written from its record (see delivery-record.ts). */
  addDelivery(record: DeliveryRecord): void {
    writeDelivery(this.out, record);
  }

  /** Closes the request: puts its head (with the lengths now known) before the spans. */
  end(): Buffer {
    const out = this.out;
    const scopeSpans = this.scope.length + out.size - this.spansAt + this.scopeTail.length;
    out.raw(this.scopeTail).raw(this.resourceTail);
    const head = this.head.reset().byte(RESOURCE_SPANS);
    head.varint(
      this.resource.length + 1 + varintSize(scopeSpans) + scopeSpans + this.resourceTail.length,
    );
    head.raw(this.resource).byte(SCOPE_SPANS).varint(scopeSpans).raw(this.scope);
    return out.bytes(out.put(head.bytes(), this.spansAt));
  }
}

function schemaUrl(out: ProtoBytes, url: string | undefined): Uint8Array {
  return url ? copy(out.byte(tag(3, LENGTH)).string(url), 0) : new Uint8Array(0);
}

/** One Span message, with its length (the caller writes its tag). */
export function writeSpan(out: ProtoBytes, span: ReadableSpan): void {
  const at = out.open(2);
  if (span instanceof RecordedSpan) {
    // Ours carry ids agentd made or took from a validated traceparent (lowercase hex already), no
    // trace state, and their times as performance.now() milliseconds.
    writeOwnHead(out, span.traceId, span.spanId, span.parentSpanId, span.name, span.kind);
    writeTimes(out, span.startMs, span.endMs);
  } else {
    const context = span.spanContext();
    writeId(out.byte(tag(1, LENGTH)), context.traceId);
    writeId(out.byte(tag(2, LENGTH)), context.spanId);
    const traceState = context.traceState?.serialize();
    if (traceState) out.byte(tag(3, LENGTH)).string(traceState);
    const parentId = span.parentSpanContext?.spanId;
    if (parentId) writeId(out.byte(tag(4, LENGTH)), parentId);
    out.byte(tag(5, LENGTH)).string(span.name);
    out.byte(tag(6, VARINT)).varint(span.kind + 1);
    out.byte(tag(7, FIXED64)).hrTime(span.startTime);
    out.byte(tag(8, FIXED64)).hrTime(span.endTime);
  }
  writeAttributes(out, span.attributes, 9);
  out.byte(tag(10, VARINT)).varint(span.droppedAttributesCount);
  for (const event of span.events) writeEvent(out.byte(tag(11, LENGTH)), event);
  out.byte(tag(12, VARINT)).varint(span.droppedEventsCount);
  for (const link of span.links) writeLink(out.byte(tag(13, LENGTH)), link);
  out.byte(tag(14, VARINT)).varint(span.droppedLinksCount);
  const status = out.byte(tag(15, LENGTH)).open(1);
  if (span.status.message) out.byte(tag(2, LENGTH)).string(span.status.message);
  out.byte(tag(3, VARINT)).varint(span.status.code).close(status, 1);
  out.byte(SPAN_FLAGS[0]).byte(SPAN_FLAGS[1]);
  out.fixed32(flagsOfSpan(span)).close(at, 2);
}

function writeEvent(out: ProtoBytes, event: TimedEvent): void {
  const at = out.open(1);
  out.byte(tag(1, FIXED64)).hrTime(event.time);
  out.byte(tag(2, LENGTH)).string(event.name);
  writeAttributes(out, event.attributes ?? {}, 3);
  out
    .byte(tag(4, VARINT))
    .varint(event.droppedAttributesCount ?? 0)
    .close(at, 1);
}

function writeLink(out: ProtoBytes, link: Link): void {
  const at = out.open(1);
  const { context } = link;
  writeId(out.byte(tag(1, LENGTH)), context.traceId);
  writeId(out.byte(tag(2, LENGTH)), context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) out.byte(tag(3, LENGTH)).string(traceState);
  writeAttributes(out, link.attributes ?? {}, 4);
  out.byte(tag(5, VARINT)).varint(link.droppedAttributesCount ?? 0);
  out.byte(tag(6, FIXED32)).fixed32(spanFlags(context, context.isRemote)).close(at, 1);
}

/**
 * OTLP ids are bytes, from the hex the API carries. An id that is not hex (only another tracer's
 * link could have one) is sent empty, as OTLP reads an invalid id, rather than as a guess.
 */
function writeId(out: ProtoBytes, id: string): void {
  if (id.length <= 64 && /^(?:[0-9a-fA-F]{2})*$/.test(id)) out.hex(id);
  else out.byte(0);
}

/** Each attribute as a KeyValue in `field`; values OTLP/JSON leaves out are left out here too. */
function writeAttributes(out: ProtoBytes, attributes: Attributes, field: number): void {
  const key = tag(field, LENGTH);
  for (const name in attributes) {
    const value = attributes[name];
    if (value !== undefined && isEncodable(value)) writeAttribute(out, key, name, value);
  }
}

/** One KeyValue, after its tag `key`. */
function writeAttribute(out: ProtoBytes, key: number, name: string, value: AttributeValue): void {
  const at = out.byte(key).open(1);
  const keyAt = KEY_FIELDS.get(name);
  if (keyAt === undefined) out.byte(tag(1, LENGTH)).string(name);
  else out.raw(keyAt);
  const valueAt = out.byte(tag(2, LENGTH)).open(1);
  writeAnyValue(out, value);
  out.close(valueAt, 1).close(at, 1);
}

/** An AnyValue's content; integers in the int64 range go as int_value, as the official one does. */
function writeAnyValue(out: ProtoBytes, value: AttributeValue | null | undefined): void {
  switch (typeof value) {
    case 'string':
      out.byte(tag(1, LENGTH)).string(value);
      return;
    case 'boolean':
      out.byte(tag(2, VARINT)).byte(value ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63)
        out.byte(tag(3, VARINT)).int64(value);
      else out.byte(tag(4, FIXED64)).double(value);
      return;
    default: {
      // Anything else (null in an array) is an empty AnyValue.
      if (!Array.isArray(value)) return;
      const at = out.byte(tag(5, LENGTH)).open(1);
      for (const item of value as unknown[]) {
        const itemAt = out.byte(tag(1, LENGTH)).open(1);
        writeAnyValue(out, isEncodable(item) ? (item as AttributeValue) : null);
        out.close(itemAt, 1);
      }
      out.close(at, 1);
    }
  }
}

/** Ids, name and kind of one of agentd's own spans (trace id and ids lowercase hex). */
function writeOwnHead(
  out: ProtoBytes,
  traceId: string,
  spanId: string,
  parentSpanId: string | undefined,
  name: string,
  kind: SpanKind,
): void {
  out.byte(tag(1, LENGTH)).hex(traceId);
  out.byte(tag(2, LENGTH)).hex(spanId);
  if (parentSpanId !== undefined) out.byte(tag(4, LENGTH)).hex(parentSpanId);
  writeName(out, name, kind);
}
