// CloudEvents over HTTP: structured mode (one event or a batch in the body) and binary mode
// (attributes in ce-* headers, data in the body). Parsed here rather than with the cloudevents SDK
// because the SDK fills in missing attributes and reports bad input without naming the field.
import { ValidationError } from '../core/errors.js';

const STRUCTURED = 'application/cloudevents+json';
const BATCH = 'application/cloudevents-batch+json';

/** Raw event objects from a request, ready for envelope validation. */
export function eventsFromRequest(headers: Headers, body: string): unknown[] {
  const contentType = (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (headers.has('ce-specversion')) return [binaryEvent(headers, contentType, body)];
  if (contentType === BATCH) {
    const parsed = parseJson(body);
    if (!Array.isArray(parsed))
      throw new ValidationError('invalid batch', ['(root): expected a JSON array of events']);
    if (parsed.length === 0)
      throw new ValidationError('invalid batch', ['(root): expected at least one event']);
    return parsed;
  }
  if (contentType === STRUCTURED || contentType === 'application/json') return [parseJson(body)];
  throw new UnsupportedMediaTypeError(contentType);
}

export class UnsupportedMediaTypeError extends Error {
  constructor(contentType: string) {
    super(
      `unsupported content type "${contentType || '(none)'}": send ${STRUCTURED}, application/json, ${BATCH}, or binary mode with ce-* headers`,
    );
  }
}

function binaryEvent(headers: Headers, contentType: string, body: string): Record<string, unknown> {
  const event: Record<string, unknown> = {};
  headers.forEach((value, name) => {
    if (!name.startsWith('ce-')) return;
    const attribute = name.slice(3);
    event[attribute] = decodeHeader(value);
  });
  if (typeof event.depth === 'string' && /^\d+$/.test(event.depth))
    event.depth = Number(event.depth);
  if (contentType !== '') event.datacontenttype = contentType;
  if (body.length > 0) {
    event.data =
      contentType === 'application/json' || contentType.endsWith('+json')
        ? parseJson(body, 'data')
        : body;
  }
  return event;
}

// Binary-mode header values are percent-encoded (CloudEvents HTTP binding 3.1.3.2).
function decodeHeader(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function parseJson(body: string, field = '(root)'): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch (error) {
    throw new ValidationError('malformed JSON', [
      `${field}: expected valid JSON (${(error as Error).message})`,
    ]);
  }
}
