// JSON written straight into a growing byte buffer, character by character, without building
// strings on the way. Exporting spans is the hot path of tracing, and what it cost was mostly
// garbage: the many small strings of templated JSON made young-generation collections more
// frequent, and each one copies everything else still young. This writer leaves almost none.
import type { HrTime } from '@opentelemetry/api';

export class JsonBytes {
  private buffer: Buffer;
  private length = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(1_024, capacity));
  }

  /** Text the caller knows is ASCII with nothing to escape: JSON punctuation, names, hex ids. */
  ascii(text: string): this {
    const n = text.length;
    this.reserve(n);
    const buffer = this.buffer;
    let at = this.length;
    for (let i = 0; i < n; i++) buffer[at++] = text.charCodeAt(i);
    this.length = at;
    return this;
  }

  /** A JSON string value: quoted, and escaped (by JSON.stringify) when it has anything to escape. */
  string(text: string): this {
    const n = text.length;
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

  /** Nanoseconds since the epoch, as OTLP/JSON writes its 64-bit times: a string of digits. */
  unixNanos(time: HrTime): this {
    const [seconds, nanos] = time;
    this.reserve(24);
    let at = this.length;
    this.buffer[at++] = 0x22;
    // seconds * 1e9 + nanos is past 2^53: the two parts are written side by side instead.
    at =
      seconds === 0
        ? writeDigits(this.buffer, at, nanos, 0)
        : writeDigits(this.buffer, writeDigits(this.buffer, at, seconds, 0), nanos, 9);
    this.buffer[at++] = 0x22;
    this.length = at;
    return this;
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  private reserve(bytes: number): void {
    const needed = this.length + bytes;
    if (needed <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
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
