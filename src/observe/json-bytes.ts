// JSON written straight into a growing byte buffer, without building strings on the way. Exporting
// spans is the hot path of tracing. Templated JSON strings cost twice: V8 joins them into a tree
// that must be flattened (about a nanosecond per byte) before it can be written, and the garbage
// makes young-generation collections more frequent. Writing byte by byte from JavaScript costs
// more per byte (2–3 ns) than a native copy, which costs a fixed ~15 ns (a typed-array `set`) or
// ~50 ns (a string written by Buffer): so fixed text goes in as pre-encoded fragments, long text
// through Buffer, and only short text byte by byte.
import type { HrTime } from '@opentelemetry/api';
import { GrowingBytes } from './growing-bytes.js';
import { unixNanosOf, unixSecondsOf } from './perf-time.js';

/** From this length a native string write beats the JavaScript loop. */
const NATIVE_FROM = 24;
/** Text JSON can carry as it is: printable ASCII without quotes or backslashes. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Fixed ASCII text (JSON punctuation and names), encoded once, copied natively where it goes. */
export function fragment(text: string): Uint8Array {
  if (!/^[\x20-\x7e]*$/.test(text)) throw new Error(`a JSON fragment must be ASCII: ${text}`);
  return Buffer.from(text, 'latin1');
}

export class JsonBytes extends GrowingBytes {
  /** The last whole second unixNanos wrote, and its digits: spans ending together share it. */
  private lastSeconds = -1;
  private lastSecondsDigits: Uint8Array = new Uint8Array(0);

  /** Starts over, keeping the buffer: a body that went out makes room for the next. */
  reset(): this {
    this.length = 0;
    return this;
  }

  /** Text the caller knows is ASCII with nothing to escape: hex ids, digits, names. */
  ascii(text: string): this {
    const n = text.length;
    this.reserve(n);
    if (n >= NATIVE_FROM) {
      this.length += this.buffer.write(text, this.length, 'latin1');
      return this;
    }
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < n; i++) buffer[at++] = text.charCodeAt(i);
    this.length = at;
    return this;
  }

  /** A JSON string value: quoted, and escaped (by JSON.stringify) when it has anything to escape. */
  string(text: string): this {
    const n = text.length;
    if (n >= NATIVE_FROM) {
      if (!PLAIN.test(text)) return this.utf8(JSON.stringify(text));
      this.reserve(n + 2);
      const buffer = this.buffer;
      buffer[this.length] = 0x22;
      const end = this.length + 1 + buffer.write(text, this.length + 1, 'latin1');
      buffer[end] = 0x22;
      this.length = end + 1;
      return this;
    }
    this.reserve(n + 2);
    const buffer = this.buffer;
    const start = this.length;
    let at = start;
    buffer[at++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      // Quotes, backslashes and control characters need escapes; anything past ASCII needs UTF-8.
      if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) {
        this.length = start;
        return this.utf8(JSON.stringify(text));
      }
      buffer[at++] = c;
    }
    buffer[at++] = 0x22;
    this.length = at;
    return this;
  }

  /** Text that is valid JSON where it goes, as UTF-8. */
  utf8(text: string): this {
    // A UTF-16 unit takes at most 3 bytes of UTF-8 (a surrogate pair takes 4 for its 2 units).
    this.reserve(text.length * 3);
    this.length += this.buffer.write(text, this.length);
    return this;
  }

  /** A number as JSON writes it; non-negative integers without making a string. */
  number(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) return this.ascii(String(value));
    this.reserve(16);
    this.length = writeDigits(this.buffer, this.length, value, 0);
    return this;
  }

  /** A time as OTLP/JSON writes it (see unixNanos). */
  hrTime(time: HrTime): this {
    return this.unixNanos(time[0], time[1]);
  }

  /** A performance.now() time as OTLP/JSON writes it (see unixNanos). */
  perfTime(perfMs: number): this {
    const seconds = unixSecondsOf(perfMs);
    return this.unixNanos(seconds, unixNanosOf(perfMs, seconds));
  }

  /** Nanoseconds since the epoch, as OTLP/JSON writes its 64-bit times: a string of digits. */
  unixNanos(seconds: number, nanos: number): this {
    this.reserve(24);
    const buffer = this.buffer;
    let at = this.length;
    buffer[at++] = 0x22;
    // seconds * 1e9 + nanos is past 2^53: the two parts are written side by side instead.
    if (seconds === 0) at = writeDigits(buffer, at, nanos, 0);
    else if (!Number.isInteger(nanos) || nanos < 0 || nanos >= 1e9)
      at = writeDigits(buffer, writeDigits(buffer, at, seconds, 0), nanos, 9);
    else {
      if (seconds !== this.lastSeconds) {
        this.lastSeconds = seconds;
        this.lastSecondsDigits = Buffer.from(String(seconds), 'latin1');
      }
      buffer.set(this.lastSecondsDigits, at);
      at += this.lastSecondsDigits.length;
      // Nine digits, in int32 arithmetic (nanos < 1e9 < 2^31): a multiply per digit, no division.
      let rest = nanos | 0;
      for (let i = at + 8; i >= at; i--) {
        const tenth = (rest / 10) | 0;
        buffer[i] = 0x30 + rest - tenth * 10;
        rest = tenth;
      }
      at += 9;
    }
    buffer[at++] = 0x22;
    this.length = at;
    return this;
  }
}

/** Writes a non-negative safe integer's digits (left-padded with zeros to `width`); returns the end. */
function writeDigits(buffer: Buffer, at: number, value: number, width: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  const count = Math.max(digits, width);
  let rest = value;
  for (let i = at + count - 1; i >= at; i--) {
    buffer[i] = 0x30 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return at + count;
}
