// Templates such as `billing.{{type}}` that name a generic webhook's events from fields of its JSON
// body. Pure, so config validation can check a template before any request arrives.
import { EVENT_TYPE } from './envelope.js';

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*)\s*\}\}/g;
/** What a filled-in value becomes when its field is absent or not a string, number or boolean. */
export const MISSING_SEGMENT = 'unknown';
const MAX_SEGMENT_LENGTH = 100;

export interface FilledTemplate {
  text: string;
  /** Field paths that were absent (or objects) in the payload. */
  missing: string[];
}

/** Why `template` cannot produce valid event types, or undefined when it can. */
export function typeTemplateProblem(template: string): string | undefined {
  const probe = template.replace(PLACEHOLDER, 'x');
  if (probe.includes('{{') || probe.includes('}}'))
    return 'expected placeholders of the form {{field}} or {{field.nested}}';
  if (!EVENT_TYPE.test(probe))
    return 'expected dotted segments such as "billing.{{type}}" (no spaces or "*")';
  return undefined;
}

/** Fills each `{{path}}` with the payload's value at that path, passed through `clean`. */
export function fillTemplate(
  template: string,
  payload: unknown,
  clean: (value: string) => string,
): FilledTemplate {
  const missing: string[] = [];
  const text = template.replace(PLACEHOLDER, (_whole, path: string) => {
    const value = lookup(payload, path);
    if (value === undefined) {
      missing.push(path);
      return clean('');
    }
    return clean(value);
  });
  return { text, missing };
}

/**
 * Makes an attacker-chosen value safe inside an event type: only letters, digits, `_` and `-`
 * survive, dots still separate segments (so `invoice.paid` stays two segments), and the length is
 * capped so a sender cannot mint unbounded type names.
 */
export function typeSegments(value: string): string {
  const cleaned = value
    .replace(/[^A-Za-z0-9_\-.]/g, '_')
    .split('.')
    .filter((segment) => segment.length > 0)
    .join('.')
    .slice(0, MAX_SEGMENT_LENGTH)
    .replace(/\.+$/, '');
  return cleaned === '' ? MISSING_SEGMENT : cleaned;
}

function lookup(payload: unknown, path: string): string | undefined {
  let current: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    if (!Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  if (typeof current === 'string' || typeof current === 'number' || typeof current === 'boolean')
    return String(current);
  return undefined;
}
