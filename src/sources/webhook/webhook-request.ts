// Reading a verified webhook request, the same way for every webhook source: headers that must be
// there, the body as JSON, fields of it.
import { WebhookRejectedError } from './webhook-rejected-error.js';

// ignoreBOM keeps a leading BOM in the text: dropping it would change what the signature covers.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The body as text. Invalid UTF-8 becomes U+FFFD, which then fails the signature or the JSON. */
export function bodyText(body: Uint8Array): string {
  return utf8.decode(body);
}

/** A header the sender always sends; 400 naming it when absent or longer than `max`. */
export function requiredHeader(headers: Headers, name: string, max = 256): string {
  const value = headers.get(name);
  if (value === null || value === '')
    throw new WebhookRejectedError(400, 'bad-header', `missing the ${name} header`);
  if (value.length > max)
    throw new WebhookRejectedError(400, 'bad-header', `the ${name} header is too long`);
  return value;
}

/** The body parsed as a JSON object; 400 for anything else. */
export function jsonObjectBody(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new WebhookRejectedError(
      400,
      'malformed-json',
      `the body is not valid JSON (${(error as Error).message})`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new WebhookRejectedError(400, 'malformed-json', 'the body is not a JSON object');
  return parsed as Record<string, unknown>;
}

/** A string field of a JSON object, or undefined. */
export function stringField(object: unknown, key: string): string | undefined {
  if (typeof object !== 'object' || object === null) return undefined;
  const value = (object as Record<string, unknown>)[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}
