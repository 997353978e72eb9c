// Slack's v0 request signature: HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the signing
// secret, compared in constant time, and refused outside a 5-minute window against replays.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SLACK_TOLERANCE_SECONDS = 5 * 60;

export type SlackVerdict = 'ok' | 'missing' | 'stale' | 'bad';

export interface SlackSignatureInput {
  secrets: readonly string[];
  /** X-Slack-Request-Timestamp, in Unix seconds. */
  timestamp: string | null;
  /** X-Slack-Signature, `v0=<64 hex>`. */
  signature: string | null;
  body: Uint8Array;
  nowMs: number;
}

const SIGNATURE = /^v0=([0-9a-f]{64})$/;

export function verifySlackSignature(input: SlackSignatureInput): SlackVerdict {
  const { timestamp, signature } = input;
  if (timestamp === null || timestamp === '' || signature === null || signature === '')
    return 'missing';
  if (!/^\d{1,12}$/.test(timestamp)) return 'bad';
  if (Math.abs(input.nowMs / 1000 - Number(timestamp)) > SLACK_TOLERANCE_SECONDS) return 'stale';
  const given = SIGNATURE.exec(signature)?.[1];
  if (given === undefined) return 'bad';
  const givenBytes = Buffer.from(given, 'hex');
  let matched = false;
  // Every secret is tried, so timing does not tell which one (if any) matched.
  for (const secret of input.secrets) {
    const expected = signSlack(secret, timestamp, input.body);
    if (timingSafeEqual(expected, givenBytes)) matched = true;
  }
  return matched ? 'ok' : 'bad';
}

/** The raw 32-byte v0 signature; `v0=` + its hex is what Slack sends. */
export function signSlack(secret: string, timestamp: string, body: Uint8Array | string): Buffer {
  return createHmac('sha256', secret).update(`v0:${timestamp}:`).update(body).digest();
}
