// A plain delivery's two spans (delivery-record.ts) written into an OTLP/protobuf body straight
// from its record, byte for byte as otlp-proto.ts writes the spans made from it (the test compares
// them): no span objects, ids the two spans share copied rather than decoded again, and the
// attributes that repeat (the route, the event type, the outcome) encoded once.
import { SpanKind } from '@opentelemetry/api';
import { DELIVERY_KEYS, type DeliveryRecord } from './delivery-record.js';
import { OWN_SPAN_FLAGS, REMOTE_CHILD_FLAGS, RepeatedText } from './otlp-body.js';
import {
  ATTRIBUTE,
  copy,
  FIELD_SCRATCH,
  PLAIN_TAIL,
  SPANS,
  writeName,
  writeTimes,
} from './otlp-proto-fields.js';
import { LENGTH, type ProtoBytes, tag, VARINT } from './proto-bytes.js';

/**
 * A plain delivery's spans (isPlainDelivery), byte for byte as writeSpan writes the spans made from
 * its record: ids the deliver span shares with the handle span are copied, not decoded again.
 */
export function writeDelivery(out: ProtoBytes, record: DeliveryRecord): void {
  const { names } = record;
  const handler = record.handler;
  let traceAt = -1;
  let deliverAt = -1;
  if (handler !== undefined) {
    const at = out.byte(SPANS).open(2);
    traceAt = out.byte(tag(1, LENGTH)).size;
    out.hex(record.traceId).byte(tag(2, LENGTH)).hex(handler.spanId);
    deliverAt = out.byte(tag(4, LENGTH)).size;
    out.hex(record.deliverSpanId);
    writeName(out, names.handle, SpanKind.INTERNAL);
    writeTimes(out, handler.startMs, handler.endMs);
    out.raw(PLAIN_TAIL).fixed32(OWN_SPAN_FLAGS);
    // Closing the span may move its content (a length shorter than the room kept for it).
    const before = out.size;
    const moved = out.close(at, 2).size - before;
    traceAt += moved;
    deliverAt += moved;
  }
  const at = out.byte(SPANS).open(2);
  // Each id with its length byte: 16 bytes of trace id, 8 of span id.
  if (traceAt < 0) out.byte(tag(1, LENGTH)).hex(record.traceId);
  else out.byte(tag(1, LENGTH)).again(traceAt, 17);
  if (deliverAt < 0) out.byte(tag(2, LENGTH)).hex(record.deliverSpanId);
  else out.byte(tag(2, LENGTH)).again(deliverAt, 9);
  if (record.parentSpanId !== undefined) out.byte(tag(4, LENGTH)).hex(record.parentSpanId);
  writeName(out, names.deliver, SpanKind.CONSUMER);
  writeTimes(out, record.startMs, record.endMs);
  const [, message, , run, attempt, outcome] = DELIVERY_KEY_FIELDS;
  writeRepeated(out, ROUTE_ATTRIBUTES, names.route);
  writeText(out, message, record.eventId);
  writeRepeated(out, TYPE_ATTRIBUTES, record.eventType);
  writeText(out, run, record.runId);
  const attemptAt = out.byte(ATTRIBUTE).open(1);
  const valueAt = out.raw(attempt).byte(tag(2, LENGTH)).open(1);
  out.byte(tag(3, VARINT)).int64(record.attempt).close(valueAt, 1).close(attemptAt, 1);
  if (record.outcome === 'completed') out.raw(COMPLETED);
  else writeText(out, outcome, record.outcome);
  const flags = record.parentSpanId === undefined ? OWN_SPAN_FLAGS : REMOTE_CHILD_FLAGS;
  out.raw(PLAIN_TAIL).fixed32(flags).close(at, 2);
}

/** A string attribute from `attributes`, or written in full past its bound. */
function writeRepeated(out: ProtoBytes, attributes: TextAttributes, value: string): void {
  const encoded = attributes.made.get(value);
  if (encoded === undefined) writeText(out, attributes.key, value);
  else out.raw(encoded);
}

/** A string attribute whose key field is `key` (encoded already). */
function writeText(out: ProtoBytes, key: Uint8Array, value: string): void {
  const at = out.byte(ATTRIBUTE).open(1);
  const valueAt = out.raw(key).byte(tag(2, LENGTH)).open(1);
  out.byte(tag(1, LENGTH)).string(value).close(valueAt, 1).close(at, 1);
}

/** The delivery span's attribute keys as fields. */
const DELIVERY_KEY_FIELDS = keyFields(DELIVERY_KEYS);

function keyFields<K extends readonly string[]>(keys: K): { [I in keyof K]: Uint8Array } {
  return keys.map((key) => copy(FIELD_SCRATCH.reset().byte(tag(1, LENGTH)).string(key), 0)) as {
    [I in keyof K]: Uint8Array;
  };
}

/** One attribute's KeyValues by value, each encoded once (values that repeat: routes, types). */
interface TextAttributes {
  key: Uint8Array;
  made: RepeatedText<Uint8Array>;
}

function textAttributes(key: Uint8Array): TextAttributes {
  return {
    key,
    made: new RepeatedText((value) => {
      writeText(FIELD_SCRATCH.reset(), key, value);
      return copy(FIELD_SCRATCH, 0);
    }),
  };
}

const ROUTE_ATTRIBUTES = textAttributes(DELIVERY_KEY_FIELDS[0]);
const TYPE_ATTRIBUTES = textAttributes(DELIVERY_KEY_FIELDS[2]);
/** The outcome of every plain delivery. */
const COMPLETED = textAttributes(DELIVERY_KEY_FIELDS[5]).made.get('completed') as Uint8Array;
