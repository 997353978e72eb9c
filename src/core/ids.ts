// Ids for everything agentd creates. Randomness comes from one pool refilled 8 KiB at a time:
// crypto.getRandomValues costs some 2.5 µs a call on Node 20, and an event needs three ids.
import { randomFillSync } from 'node:crypto';
import { v7 } from 'uuid';

const POOL = Buffer.allocUnsafe(8_192);
let poolOffset = POOL.length;
let hexPool = '';
let hexOffset = 0;

/** `n` random bytes from the pool, valid until the next call. */
function randomBytes(n: number): Buffer {
  if (poolOffset + n > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const bytes = POOL.subarray(poolOffset, poolOffset + n);
  poolOffset += n;
  return bytes;
}

/** The last v7 id's millisecond and sequence: ids made in one millisecond still sort in order. */
const v7State = { msecs: -Infinity, seq: 0 };

/**
 * A UUIDv7: time-ordered, so indexes stay append-only. Made by `uuid` from pooled random bytes,
 * with the monotonic sequence uuid keeps for its own random source (RFC 9562, method 1).
 */
export function newEventId(): string {
  const random = randomBytes(16);
  const now = Date.now();
  if (now > v7State.msecs) {
    v7State.msecs = now;
    v7State.seq = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
  } else {
    v7State.seq = (v7State.seq + 1) | 0;
    if (v7State.seq === 0) v7State.msecs++;
  }
  return v7({ random, msecs: v7State.msecs, seq: v7State.seq });
}

/** `bytes` random bytes as lowercase hex, never all zeros (an invalid W3C id). */
export function randomHexId(bytes: 8 | 16): string {
  const length = bytes * 2;
  for (;;) {
    if (hexOffset + length > hexPool.length) {
      // One conversion for hundreds of ids: slicing a string is far cheaper than hex-encoding.
      hexPool = randomBytes(1_024).toString('hex');
      hexOffset = 0;
    }
    const id = hexPool.slice(hexOffset, hexOffset + length);
    hexOffset += length;
    if (id.charCodeAt(0) !== 48 || !/^0+$/.test(id)) return id;
  }
}

/** A W3C trace-context span id: 8 random bytes as 16 hex digits. */
export function newSpanId(): string {
  return randomHexId(8);
}

/** A W3C trace-context trace id: 16 random bytes as 32 hex digits. */
export function newTraceId(): string {
  return randomHexId(16);
}
