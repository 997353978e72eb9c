// What the OTLP batcher writes spans into: one request body in one of OTLP/HTTP's encodings
// (otlp-json.ts, otlp-proto.ts), and what both encodings share.
import { TraceFlags, type SpanContext } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { RecordedSpan, type SpanOrigin } from './recorded-span.js';

/** OTLP/HTTP's encodings, as OTEL_EXPORTER_OTLP_PROTOCOL names them. */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** The resource and scope every span of a batch shares (one tracer makes them all). */
export type BatchOrigin = Pick<SpanOrigin, 'resource' | 'instrumentationScope'>;

/** One request body, reused from one batch to the next: begin, add spans, end. */
export interface OtlpBody {
  /** Starts a new request (what the last one held is overwritten). */
  begin(): void;
  /** Writes one span into the request. */
  add(span: ReadableSpan): void;
  /** Closes the request; the bytes are read until the next begin(). */
  end(): Buffer;
}

// OTLP span flags: the W3C trace flags in the low byte, then "is remote is known" and "is remote".
const HAS_IS_REMOTE = 0x100;
const IS_REMOTE = 0x200;

export function spanFlags(context: SpanContext, remote: boolean | undefined): number {
  return (context.traceFlags & 0xff) | HAS_IS_REMOTE | (remote === true ? IS_REMOTE : 0);
}

/** The OTLP flags of agentd's own spans (all sampled): with no parent or a local one, ... */
export const OWN_SPAN_FLAGS = TraceFlags.SAMPLED | HAS_IS_REMOTE;
/** ... and with a remote parent (an event's traceparent). */
export const REMOTE_CHILD_FLAGS = OWN_SPAN_FLAGS | IS_REMOTE;

/** A span's OTLP flags; agentd's own spans are sampled and know their parent from fields. */
export function flagsOfSpan(span: ReadableSpan): number {
  if (span instanceof RecordedSpan) return span.parentRemote ? REMOTE_CHILD_FLAGS : OWN_SPAN_FLAGS;
  return spanFlags(span.spanContext(), span.parentSpanContext?.isRemote);
}

/** Attribute values OTLP carries: primitives and arrays (anything else is left out). */
export function isEncodable(value: unknown): boolean {
  const type = typeof value;
  return type === 'string' || type === 'number' || type === 'boolean' || Array.isArray(value);
}

/**
 * Encoded text that repeats on every span (attribute keys, span names), made once per text up to a
 * bound: the text is code's choice, but a handler could make it from data, and past the bound
 * get() answers undefined and the writer encodes the text each time.
 */
export class RepeatedText<T> {
  private readonly made = new Map<string, T>();

  constructor(private readonly make: (text: string) => T) {}

  get(text: string): T | undefined {
    const known = this.made.get(text);
    if (known !== undefined || this.made.size >= MAX_REPEATED_TEXTS) return known;
    const piece = this.make(text);
    this.made.set(text, piece);
    return piece;
  }
}

const MAX_REPEATED_TEXTS = 1_024;

/** A span name's encoding for each span kind, made as each kind is first seen. */
export class RepeatedNames {
  private readonly names = new RepeatedText<Array<Uint8Array | undefined>>(() => []);

  constructor(private readonly encode: (name: string, kind: number) => Uint8Array) {}

  get(name: string, kind: number): Uint8Array | undefined {
    const byKind = this.names.get(name);
    return byKind === undefined ? undefined : (byKind[kind] ??= this.encode(name, kind));
  }
}
