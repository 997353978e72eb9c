// The pieces of a protobuf Span message that otlp-proto.ts and otlp-proto-delivery.ts both write:
// span names with their kind and attribute keys, each encoded once, times, and the tail of a span
// with nothing but attributes.
import type { SpanKind } from '@opentelemetry/api';
import { RepeatedNames, RepeatedText } from './otlp-body.js';
import { FIXED64, LENGTH, ProtoBytes, tag, VARINT } from './proto-bytes.js';

/** ScopeSpans.spans: the tag before each Span message. */
export const SPANS = tag(2, LENGTH);
/** Span.flags is field 16: its tag takes two bytes. */
export const SPAN_FLAGS = [0x85, 0x01] as const;
/** Span.attributes: the tag before each KeyValue. */
export const ATTRIBUTE = tag(9, LENGTH);

/** What is written from `start` on, as a copy of its own. */
export function copy(out: ProtoBytes, start: number): Uint8Array {
  return Uint8Array.from(out.bytes(start));
}

/** A span's name and kind. */
export function writeName(out: ProtoBytes, name: string, kind: SpanKind): void {
  const named = NAME_FIELDS.get(name, kind);
  if (named === undefined)
    out
      .byte(tag(5, LENGTH))
      .string(name)
      .byte(tag(6, VARINT))
      .varint(kind + 1);
  else out.raw(named);
}

export function writeTimes(out: ProtoBytes, startMs: number, endMs: number): void {
  out.byte(tag(7, FIXED64)).perfTime(startMs);
  out.byte(tag(8, FIXED64)).perfTime(endMs);
}

// What follows the attributes of a span with no events, links or status: three zero counts, an
// UNSET status, and the tag of the flags.
export const PLAIN_TAIL = Uint8Array.of(
  tag(10, VARINT),
  0,
  tag(12, VARINT),
  0,
  tag(14, VARINT),
  0,
  tag(15, LENGTH),
  2,
  tag(3, VARINT),
  0,
  SPAN_FLAGS[0],
  SPAN_FLAGS[1],
);

// Attribute keys and span names repeat on every span: each is encoded once as its fields (tag,
// length, UTF-8; a name with its kind).
export const FIELD_SCRATCH = new ProtoBytes(0);
export const KEY_FIELDS = new RepeatedText((key) =>
  copy(FIELD_SCRATCH.reset().byte(tag(1, LENGTH)).string(key), 0),
);
export const NAME_FIELDS = new RepeatedNames((name, kind) =>
  copy(
    FIELD_SCRATCH.reset()
      .byte(tag(5, LENGTH))
      .string(name)
      .byte(tag(6, VARINT))
      .varint(kind + 1),
    0,
  ),
);
