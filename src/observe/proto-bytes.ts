// Protobuf wire format written straight into a growing byte buffer, for the OTLP/protobuf request
// bodies (otlp-proto.ts). A nested message's length comes before its content: room for it is kept
// (open), the content written, then the length put in (close), moving the content only when the
// length took another number of bytes than was kept. Varints are minimal, as every encoder writes
// them, so bodies are byte for byte those of the official serializer.
import type { HrTime } from '@opentelemetry/api';
import { GrowingBytes } from './growing-bytes.js';
import { unixNanosOf, unixSecondsOf } from './perf-time.js';

/** Protobuf wire types. */
export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH = 2;
export const FIXED32 = 5;

/**
 * From this length a native UTF-8 write beats the JavaScript loop. Later than json-bytes.ts's: here
 * the loop needs no escape checks, and a native write of unknown length must be moved afterwards.
 */
const NATIVE_FROM = 64;
const TWO_32 = 0x1_0000_0000;
/** Each hex digit's value by character code (0 for anything else: callers check their ids). */
const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[0x61 + i] = HEX_VALUE[0x41 + i] = 10 + i;

/**
 * A field's tag, the key before its value, for fields 1..15: one byte. (Called with constants in
 * the hot path, so it folds away: no check here; field 16 and up are written as raw bytes.)
 */
export function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** Bytes a varint of the unsigned 32-bit `value` takes. */
export function varintSize(value: number): number {
  return value < 0x80
    ? 1
    : value < 0x4000
      ? 2
      : value < 0x20_0000
        ? 3
        : value < 0x1000_0000
          ? 4
          : 5;
}

export class ProtoBytes extends GrowingBytes {
  /** The last whole second fixed64Nanos wrote, times 1e9 as two 32-bit halves. */
  private lastSeconds = -1;
  private lastLow = 0;
  private lastHigh = 0;

  /** Starts over at `at`, keeping the buffer: room before it is the caller's (see put()). */
  reset(at = 0): this {
    this.reserve(at);
    this.length = at;
    return this;
  }

  /** One byte: a tag (see tag()) or a small varint. */
  byte(value: number): this {
    this.reserve(1);
    this.buffer[this.length++] = value;
    return this;
  }

  /** Copies `bytes` to end at `end`, before what is written (room reset() kept); returns its start. */
  put(bytes: Uint8Array, end: number): number {
    this.buffer.set(bytes, end - bytes.length);
    return end - bytes.length;
  }

  /** Copies `length` bytes written earlier, from `start`, to the end. */
  again(start: number, length: number): this {
    this.reserve(length);
    this.buffer.copyWithin(this.length, start, start + length);
    this.length += length;
    return this;
  }

  /** A varint of an unsigned 32-bit value (lengths, counts, enums, flags). */
  varint(value: number): this {
    this.reserve(5);
    const buffer = this.buffer;
    let at = this.length;
    let rest = value >>> 0;
    while (rest > 0x7f) {
      buffer[at++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    buffer[at++] = rest;
    this.length = at;
    return this;
  }

  /** An int64 varint of an integer in the int64 range (negative ones take ten bytes). */
  int64(value: number): this {
    if (value >= 0 && value < TWO_32) return this.varint(value);
    let low: number;
    let high: number;
    if (value >= 0) {
      low = value >>> 0;
      high = Math.floor(value / TWO_32) >>> 0;
    } else {
      // Two's complement of the magnitude, in two halves.
      const magnitude = -value;
      low = ~(magnitude >>> 0) >>> 0;
      high = ~(Math.floor(magnitude / TWO_32) >>> 0) >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    this.reserve(10);
    const buffer = this.buffer;
    let at = this.length;
    while (high > 0 || low > 0x7f) {
      buffer[at++] = (low & 0x7f) | 0x80;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    buffer[at++] = low;
    this.length = at;
    return this;
  }

  fixed32(value: number): this {
    this.reserve(4);
    this.length = this.buffer.writeUInt32LE(value >>> 0, this.length);
    return this;
  }

  double(value: number): this {
    this.reserve(8);
    this.length = this.buffer.writeDoubleLE(value, this.length);
    return this;
  }

  /** A time as a fixed64 of nanoseconds since the epoch (see fixed64Nanos). */
  hrTime(time: HrTime): this {
    return this.fixed64Nanos(time[0], time[1]);
  }

  /** A performance.now() time as a fixed64 of nanoseconds since the epoch (see fixed64Nanos). */
  perfTime(perfMs: number): this {
    const seconds = unixSecondsOf(perfMs);
    return this.fixed64Nanos(seconds, unixNanosOf(perfMs, seconds));
  }

  /** Nanoseconds since the epoch as a fixed64: seconds * 1e9 + nanos is past 2^53, so in halves. */
  fixed64Nanos(seconds: number, nanos: number): this {
    if (seconds !== this.lastSeconds) {
      // Spans ending together share their second: its product is worked out once.
      this.lastSeconds = seconds;
      const lowSeconds = (seconds & 0xffff) * 1e9; // < 2^46: exact
      const highSeconds = Math.floor(seconds / 0x1_0000) * 1e9; // shifted 16 bits up
      const low = (lowSeconds % TWO_32) + (highSeconds % 0x1_0000) * 0x1_0000;
      this.lastLow = low % TWO_32;
      this.lastHigh =
        (Math.floor(lowSeconds / TWO_32) +
          Math.floor(highSeconds / 0x1_0000) +
          Math.floor(low / TWO_32)) >>>
        0;
    }
    const low = this.lastLow + nanos;
    this.reserve(8);
    let at = this.buffer.writeUInt32LE(low >>> 0, this.length);
    at = this.buffer.writeUInt32LE((this.lastHigh + Math.floor(low / TWO_32)) >>> 0, at);
    this.length = at;
    return this;
  }

  /** A string as length and UTF-8 (lone surrogates become U+FFFD, as TextEncoder writes them). */
  string(text: string): this {
    const n = text.length;
    if (n < NATIVE_FROM) {
      this.reserve(n + 1);
      const buffer = this.buffer;
      const start = this.length;
      buffer[start] = n;
      let at = start + 1;
      for (let i = 0; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c > 0x7f) return this.utf8(text);
        buffer[at++] = c;
      }
      this.length = at;
      return this;
    }
    return this.utf8(text);
  }

  /** Id bytes from hex the caller has checked (even length, hex digits only, under 256 digits). */
  hex(id: string): this {
    // A JavaScript loop: Buffer's native hex decoding costs more in the call than in the work.
    const bytes = id.length >>> 1;
    this.reserve(bytes + 1);
    const buffer = this.buffer;
    let at = this.length;
    buffer[at++] = bytes;
    for (let i = 0; i < id.length; i += 2)
      buffer[at++] = (HEX_VALUE[id.charCodeAt(i)]! << 4) | HEX_VALUE[id.charCodeAt(i + 1)]!;
    this.length = at;
    return this;
  }

  /** Keeps `room` bytes for a message's length; close() puts it in. Returns where it goes. */
  open(room: 1 | 2): number {
    this.reserve(room);
    const at = this.length;
    this.length += room;
    return at;
  }

  /** Puts in the length of the message opened at `at` with `room`, moving it if the size differs. */
  close(at: number, room: 1 | 2): this {
    const content = this.length - at - room;
    const size = varintSize(content);
    if (size !== room) {
      this.reserve(size - room);
      this.buffer.copyWithin(at + size, at + room, this.length);
      this.length += size - room;
    }
    const buffer = this.buffer;
    let rest = content;
    let i = at;
    while (rest > 0x7f) {
      buffer[i++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    buffer[i] = rest;
    return this;
  }

  private utf8(text: string): this {
    // A UTF-16 unit takes at most 3 bytes of UTF-8 (a surrogate pair takes 4 for its 2 units).
    if (text.length * 3 >= 0x4000) {
      const bytes = Buffer.from(text, 'utf8');
      return this.varint(bytes.length).raw(bytes);
    }
    const room = text.length * 3 < 0x80 ? 1 : 2;
    this.reserve(room + text.length * 3);
    const at = this.open(room);
    this.length += this.buffer.write(text, this.length, 'utf8');
    return this.close(at, room);
  }
}
