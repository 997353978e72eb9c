// Delivery records (delivery-record.ts) as bytes, for the OTLP export thread (otlp-thread.ts): the
// run path writes each settled delivery into a batch buffer, a few fixed fields and its strings,
// and the thread reads it back, encodes and sends it. Times travel as performance.now()
// milliseconds of the writing thread; the reader moves them onto its own clock.
import { RouteSpanNames, type DeliveryRecord, type HandlerRecord } from './delivery-record.js';

const HAS_PARENT = 1;
const HAS_HANDLER = 2;
const FAILED = 4;
/** The handler threw an Error (else something else, kept as its text). */
const THREW_ERROR = 8;

/** Fixed fields: flags, parent flags, attempt, four times. */
const FIXED_BYTES = 1 + 1 + 4 + 4 * 8;
/** Strings: traceId, deliver, parent, handler, route, event id, type, run id, outcome, 3 of failure. */
const MAX_STRINGS = 12;

/** What a record can take at most, written: every string at 3 bytes per UTF-16 unit. */
export function maxRecordBytes(record: DeliveryRecord): number {
  let text =
    record.traceId.length +
    record.deliverSpanId.length +
    (record.parentSpanId?.length ?? 0) +
    (record.handler?.spanId.length ?? 0) +
    record.names.route.length +
    record.eventId.length +
    record.eventType.length +
    record.runId.length +
    record.outcome.length;
  const failure = failureText(record.handler);
  if (failure !== undefined)
    text += failure.type.length + failure.message.length + (failure.stack?.length ?? 0);
  return FIXED_BYTES + MAX_STRINGS * 4 + text * 3;
}

/** Writes `record` at `at` (room for maxRecordBytes() is the caller's); returns where it ends. */
export function writeRecord(out: Buffer, at: number, record: DeliveryRecord): number {
  const handler = record.handler;
  const failure = failureText(handler);
  let flags = 0;
  if (record.parentSpanId !== undefined) flags |= HAS_PARENT;
  if (handler !== undefined) flags |= HAS_HANDLER;
  if (failure !== undefined) flags |= FAILED | (failure.error ? THREW_ERROR : 0);
  out[at] = flags;
  out[at + 1] = record.parentFlags;
  at = out.writeUInt32LE(record.attempt >>> 0, at + 2);
  at = out.writeDoubleLE(record.startMs, at);
  at = out.writeDoubleLE(record.endMs, at);
  at = out.writeDoubleLE(handler?.startMs ?? 0, at);
  at = out.writeDoubleLE(handler?.endMs ?? 0, at);
  at = text(out, at, record.traceId);
  at = text(out, at, record.deliverSpanId);
  if (record.parentSpanId !== undefined) at = text(out, at, record.parentSpanId);
  if (handler !== undefined) at = text(out, at, handler.spanId);
  at = text(out, at, record.names.route);
  at = text(out, at, record.eventId);
  at = text(out, at, record.eventType);
  at = text(out, at, record.runId);
  at = text(out, at, record.outcome);
  if (failure !== undefined) {
    at = text(out, at, failure.type);
    at = text(out, at, failure.message);
    at = text(out, at, failure.stack ?? '');
  }
  return at;
}

/** Reads the records in `bytes`, each handed to `each`, times moved by `shiftMs`. */
export function readRecords(
  bytes: Buffer,
  shiftMs: number,
  names: (route: string) => RouteSpanNames,
  each: (record: DeliveryRecord) => void,
): void {
  const reader = new Reader(bytes);
  while (reader.at < bytes.length) each(reader.record(shiftMs, names));
}

/** Route span names by route, made once each (bounded: past it, made per record). */
export function routeNames(): (route: string) => RouteSpanNames {
  const made = new Map<string, RouteSpanNames>();
  return (route) => {
    const known = made.get(route);
    if (known !== undefined) return known;
    const names = new RouteSpanNames(route);
    if (made.size < 1_024) made.set(route, names);
    return names;
  };
}

class Reader {
  at = 0;

  constructor(private readonly bytes: Buffer) {}

  record(shiftMs: number, names: (route: string) => RouteSpanNames): DeliveryRecord {
    const bytes = this.bytes;
    const flags = bytes[this.at] as number;
    const parentFlags = bytes[this.at + 1] as number;
    const attempt = bytes.readUInt32LE(this.at + 2);
    const startMs = bytes.readDoubleLE(this.at + 6) + shiftMs;
    const endMs = bytes.readDoubleLE(this.at + 14) + shiftMs;
    const handlerStartMs = bytes.readDoubleLE(this.at + 22) + shiftMs;
    const handlerEndMs = bytes.readDoubleLE(this.at + 30) + shiftMs;
    this.at += FIXED_BYTES;
    const traceId = this.text();
    const deliverSpanId = this.text();
    const parentSpanId = (flags & HAS_PARENT) === 0 ? undefined : this.text();
    const handlerSpanId = (flags & HAS_HANDLER) === 0 ? undefined : this.text();
    const route = this.text();
    const eventId = this.text();
    const eventType = this.text();
    const runId = this.text();
    const outcome = this.text();
    let failure: { error: unknown } | undefined;
    if ((flags & FAILED) !== 0) {
      const type = this.text();
      const message = this.text();
      const stack = this.text();
      failure = { error: (flags & THREW_ERROR) === 0 ? message : errorOf(type, message, stack) };
    }
    const handler: HandlerRecord | undefined =
      handlerSpanId === undefined
        ? undefined
        : { spanId: handlerSpanId, startMs: handlerStartMs, endMs: handlerEndMs, failure };
    return {
      names: names(route),
      traceId,
      parentSpanId,
      parentFlags,
      deliverSpanId,
      startMs,
      endMs,
      eventId,
      eventType,
      runId,
      attempt,
      outcome,
      handler,
    };
  }

  private text(): string {
    const length = this.bytes.readUInt32LE(this.at);
    const start = this.at + 4;
    this.at = start + length;
    return this.bytes.toString('utf8', start, this.at);
  }
}

/** A string as its UTF-8 length and bytes; ASCII copied here (a native write costs more). */
function text(out: Buffer, at: number, value: string): number {
  const n = value.length;
  let to = at + 4;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x7f) {
      to = at + 4 + out.write(value, at + 4, 'utf8');
      break;
    }
    out[to++] = c;
  }
  const written = to - at - 4;
  out[at] = written & 0xff;
  out[at + 1] = (written >>> 8) & 0xff;
  out[at + 2] = (written >>> 16) & 0xff;
  out[at + 3] = written >>> 24;
  return to;
}

/** What a failed handler threw, as text: its type (code or name), message and stack. */
interface FailureText {
  /** It was an Error (else `message` is what String() made of it). */
  error: boolean;
  type: string;
  message: string;
  stack: string | undefined;
}

function failureText(handler: HandlerRecord | undefined): FailureText | undefined {
  if (handler?.failure === undefined) return undefined;
  const thrown = handler.failure.error;
  if (!(thrown instanceof Error))
    return { error: false, type: '', message: String(thrown), stack: undefined };
  const code = (thrown as { code?: unknown }).code;
  return {
    error: true,
    type: typeof code === 'string' || typeof code === 'number' ? String(code) : thrown.name,
    message: thrown.message,
    stack: thrown.stack,
  };
}

/** An Error that a span records as the one thrown was: same type, message and stack. */
function errorOf(type: string, message: string, stack: string): Error {
  const error = new Error(message);
  error.name = type;
  if (stack === '') delete error.stack;
  else error.stack = stack;
  return error;
}
