// The `sources` config key: a tagged union with one entry per kind of event source. Adding a kind
// is its schema in SOURCE_SCHEMAS plus its factory in src/sources/create-sources.ts.
import { z } from 'zod';
import { cronSourceSchema } from './cron-source-config.js';
import { fsSourceSchema } from './fs-source-config.js';
import { processSourceSchema } from './process-source-config.js';
import {
  githubSourceSchema,
  slackSourceSchema,
  standardWebhookSourceSchema,
} from './webhook-source-config.js';

const SOURCE_SCHEMAS = [
  githubSourceSchema,
  slackSourceSchema,
  standardWebhookSourceSchema,
  cronSourceSchema,
  fsSourceSchema,
  processSourceSchema,
] as const;

export const sourceConfigSchema = z.discriminatedUnion('kind', SOURCE_SCHEMAS, {
  error: (issue) =>
    issue.code === 'invalid_union'
      ? `expected kind to be one of ${SOURCE_SCHEMAS.map((s) => `"${s.shape.kind.value}"`).join(', ')}`
      : undefined,
});

export type SourceConfig = z.output<typeof sourceConfigSchema>;
export type SourceKind = SourceConfig['kind'];
export type SourceConfigOf<K extends SourceKind> = Extract<SourceConfig, { kind: K }>;

/** A source's name: its `name`, else its kind (so one GitHub source is simply "github"). */
export function sourceName(config: { kind: string; name?: string | undefined }): string {
  return config.name ?? config.kind;
}

export const sourcesSchema = z
  .array(sourceConfigSchema)
  .default([])
  .superRefine((sources, ctx) => {
    const seen = new Map<string, number>();
    sources.forEach((source, index) => {
      const name = sourceName(source);
      const earlier = seen.get(name);
      if (earlier !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [index, 'name'],
          message: `"${name}" is already used by sources[${earlier}]; give one of them a distinct name`,
        });
      seen.set(name, index);
    });
  });
