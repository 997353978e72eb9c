// How long a model API asks us to wait, read off its response headers: retry-after(-ms), else the
// rate-limit reset of whichever limit it reports exhausted (Anthropic and OpenAI each their way).

/** retry-after-ms (OpenAI, Anthropic), else retry-after in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (headers === undefined) return undefined;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers.get('retry-after');
  if (raw === null) return undefined;
  const seconds = Number.parseFloat(raw);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

/** [remaining, reset] header pairs: Anthropic's resets are RFC 3339 times, OpenAI's durations. */
const LIMIT_HEADERS = [
  ['anthropic-ratelimit-requests-remaining', 'anthropic-ratelimit-requests-reset'],
  ['anthropic-ratelimit-tokens-remaining', 'anthropic-ratelimit-tokens-reset'],
  ['anthropic-ratelimit-input-tokens-remaining', 'anthropic-ratelimit-input-tokens-reset'],
  ['anthropic-ratelimit-output-tokens-remaining', 'anthropic-ratelimit-output-tokens-reset'],
  ['x-ratelimit-remaining-requests', 'x-ratelimit-reset-requests'],
  ['x-ratelimit-remaining-tokens', 'x-ratelimit-reset-tokens'],
] as const;

/**
 * For a 429 without retry-after: when the limits reported at 0 remaining are all refilled (the
 * latest of their resets). Undefined when no exhausted limit names a reset we can read.
 */
export function rateLimitResetMs(
  headers: Headers | undefined,
  now = Date.now(),
): number | undefined {
  if (headers === undefined) return undefined;
  let latest: number | undefined;
  for (const [remaining, reset] of LIMIT_HEADERS) {
    if (headers.get(remaining)?.trim() !== '0') continue;
    const ms = resetMs(headers.get(reset), now);
    if (ms !== undefined) latest = Math.max(latest ?? 0, ms);
  }
  return latest;
}

/** The server's wait for a 429: retry-after first, the exhausted limits' reset otherwise. */
export function rateLimitWaitMs(
  headers: Headers | undefined,
  now = Date.now(),
): number | undefined {
  return retryAfterMs(headers, now) ?? rateLimitResetMs(headers, now);
}

// OpenAI writes `1s`, `6m0s`, `20ms`, `1h2m3.5s`.
const DURATION =
  /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/;

function resetMs(raw: string | null, now: number): number | undefined {
  const value = raw?.trim();
  if (value === undefined || value === '') return undefined;
  const parts = DURATION.exec(value);
  if (parts !== null) {
    const [, h, m, s, ms] = parts.map((p) => (p === undefined ? 0 : Number.parseFloat(p)));
    return (h ?? 0) * 3_600_000 + (m ?? 0) * 60_000 + (s ?? 0) * 1_000 + (ms ?? 0);
  }
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}
