// The event envelope: CloudEvents 1.0 structured JSON plus agentd's extension attributes.
import { z } from 'zod';
import { ValidationError } from './errors.js';
import { newEventId, newSpanId, newTraceId } from './ids.js';
import { formatIssues } from './issues.js';

export const TRUST_LEVELS = ['external', 'operator', 'internal'] as const;
export type Trust = (typeof TRUST_LEVELS)[number];

const TRUST_RANK: Record<Trust, number> = { external: 0, operator: 1, internal: 2 };

/** A fully formed event as stored and delivered. */
export interface AgentdEvent<TData = unknown> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  subject?: string;
  datacontenttype?: string;
  dataschema?: string;
  data?: TData;
  data_base64?: string;
  partitionkey?: string;
  traceparent?: string;
  causationid?: string;
  correlationid: string;
  depth: number;
  trust: Trust;
  origin?: string;
  /** Other CloudEvents extension attributes, kept as they came. */
  [extension: string]: unknown;
}

/** What a producer has to say; agentd fills in the rest. */
export interface EventInput<TData = unknown> {
  type: string;
  data?: TData;
  id?: string;
  source?: string;
  subject?: string;
  time?: string;
  datacontenttype?: string;
  dataschema?: string;
  data_base64?: string;
  partitionkey?: string;
  traceparent?: string;
  causationid?: string;
  correlationid?: string;
  depth?: number;
  trust?: Trust;
  origin?: string;
  [extension: string]: unknown;
}

const CORE_ATTRIBUTES = new Set([
  'specversion',
  'id',
  'source',
  'type',
  'time',
  'subject',
  'datacontenttype',
  'dataschema',
  'data',
  'data_base64',
  'partitionkey',
  'traceparent',
  'causationid',
  'correlationid',
  'depth',
  'trust',
  'origin',
]);

const EXTENSION_NAME = /^[a-z0-9]{1,64}$/;
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
// Dotted segments without wildcards or spaces, so route patterns can match them unambiguously.
export const EVENT_TYPE = /^[A-Za-z0-9_\-:/]+(\.[A-Za-z0-9_\-:/]+)*$/;

const text = (max: number) => z.string().min(1, 'expected a non-empty string').max(max);

const envelopeInputSchema = z
  .object({
    specversion: z.literal('1.0', { error: 'expected "1.0"' }).optional(),
    id: text(256).optional(),
    source: text(1024).optional(),
    type: text(256).regex(
      EVENT_TYPE,
      'expected dotted segments such as "github.push" (no spaces or "*")',
    ),
    time: z.iso.datetime({ offset: true, error: 'expected an RFC 3339 timestamp' }).optional(),
    subject: text(1024).optional(),
    datacontenttype: text(256).optional(),
    dataschema: text(1024).optional(),
    data: z.unknown().optional(),
    data_base64: z.base64({ error: 'expected base64 text' }).optional(),
    partitionkey: text(512).optional(),
    traceparent: z
      .string()
      .regex(TRACEPARENT, 'expected a W3C traceparent such as "00-<32 hex>-<16 hex>-01"')
      .optional(),
    causationid: text(256).optional(),
    correlationid: text(256).optional(),
    depth: z.int().min(0).max(1_000_000).optional(),
    trust: z.enum(TRUST_LEVELS).optional(),
    origin: text(256).optional(),
  })
  .catchall(z.unknown())
  .superRefine((value, ctx) => {
    for (const key of Object.keys(value)) {
      if (!CORE_ATTRIBUTES.has(key) && !EXTENSION_NAME.test(key)) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'expected a CloudEvents attribute name: lower-case letters and digits only',
        });
      }
    }
    if (value.data !== undefined && value.data_base64 !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['data_base64'],
        message: 'expected either data or data_base64, not both',
      });
    }
  });

export interface EventDefaults {
  source: string;
  trust: Trust;
  /** Cap on the trust a producer may claim for itself: it may lower its trust, never raise it. */
  maxTrust?: Trust;
  origin?: string;
}

/**
 * Validates anything that claims to be an event and completes it into a stored envelope.
 * Throws a ValidationError whose issues name each bad field and what was expected.
 */
export function toEvent(raw: unknown, defaults: EventDefaults): AgentdEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ValidationError('event: expected a JSON object', [
      `(root): expected an object, got ${Array.isArray(raw) ? 'array' : raw === null ? 'null' : typeof raw}`,
    ]);
  }
  const parsed = envelopeInputSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = formatIssues(parsed.error.issues);
    throw new ValidationError(`invalid event: ${issues.join('; ')}`, issues);
  }
  const input = parsed.data;
  const id = input.id ?? newEventId();
  const claimed = input.trust ?? defaults.trust;
  const cap = defaults.maxTrust ?? defaults.trust;
  const event: AgentdEvent = {
    ...stripUndefined(input),
    specversion: '1.0',
    id,
    source: input.source ?? defaults.source,
    type: input.type,
    time: input.time ?? new Date().toISOString(),
    correlationid: input.correlationid ?? id,
    depth: input.depth ?? 0,
    trust: lowerTrust(claimed, cap),
  };
  const origin = input.origin ?? defaults.origin;
  if (origin !== undefined) event.origin = origin;
  return event;
}

/** The lower of two trust levels: trust never rises along a chain. */
export function lowerTrust(a: Trust, b: Trust): Trust {
  return TRUST_RANK[a] <= TRUST_RANK[b] ? a : b;
}

/** An event caused by `parent`: same correlation and trace, one hop deeper, trust never higher. */
export function deriveEvent(parent: AgentdEvent, input: EventInput, source: string): AgentdEvent {
  const traceId = parent.traceparent?.split('-')[1] ?? newTraceId();
  return toEvent(
    {
      ...input,
      causationid: parent.id,
      correlationid: parent.correlationid,
      depth: parent.depth + 1,
      traceparent: input.traceparent ?? `00-${traceId}-${newSpanId()}-01`,
    },
    { source, trust: lowerTrust(parent.trust, 'internal') },
  );
}

function stripUndefined(input: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) if (value !== undefined) out[key] = value;
  return out;
}
