// What the OTLP body writers (json-bytes.ts, proto-bytes.ts) share: a buffer that doubles when a
// write would not fit, kept across bodies so that a steady exporter allocates nothing per batch.
export class GrowingBytes {
  protected buffer: Buffer;
  protected length = 0;

  constructor(capacity: number) {
    this.buffer = Buffer.allocUnsafe(Math.max(1_024, capacity));
  }

  /** Bytes written so far (the position of the next). */
  get size(): number {
    return this.length;
  }

  /** Pre-encoded bytes. */
  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
    return this;
  }

  /** The bytes from `start` on. */
  bytes(start = 0): Buffer {
    return this.buffer.subarray(start, this.length);
  }

  /** Makes room for `bytes` more. */
  protected reserve(bytes: number): void {
    const needed = this.length + bytes;
    if (needed <= this.buffer.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(needed, this.buffer.length * 2));
    this.buffer.copy(bigger, 0, 0, this.length);
    this.buffer = bigger;
  }
}
