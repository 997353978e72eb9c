// Every action a sink offers: its parameters' schema (checked when the handler records it, so a bad
// call fails the run at once rather than the send later) and its lane (what may not be changed by
// two sends at once).
import { z } from 'zod';

const repo = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'expected "owner/name", e.g. "acme/widgets"');
const number = z.int().positive();
const sha = z.string().regex(/^[0-9a-f]{7,64}$/i, 'expected a commit SHA');
const marker = z
  .string()
  .regex(/^[A-Za-z0-9_.:/#-]{1,200}$/, 'expected letters, digits and _ . : / # - only');
const checkOutput = z.strictObject({
  title: z.string().min(1),
  summary: z.string(),
  text: z.string().optional(),
});
const checkFields = {
  repo,
  headSha: sha,
  name: z.string().min(1).max(200),
  detailsUrl: z.url().optional(),
  externalId: z.string().optional(),
  output: checkOutput.optional(),
};

export interface ActionSpec {
  params: z.ZodType;
  /** Sends of one lane never overlap (e.g. two edits of one comment). */
  lane?: (params: never, key: string) => string;
}

const comment = z.strictObject({
  repo,
  issue: number,
  body: z.string().min(1).max(65_000),
  marker: marker.optional(),
});
const checkRun = z.strictObject({
  ...checkFields,
  status: z.enum(['queued', 'in_progress']).optional(),
});
const completeCheckRun = z.strictObject({
  ...checkFields,
  conclusion: z.enum([
    'success',
    'failure',
    'neutral',
    'cancelled',
    'skipped',
    'timed_out',
    'action_required',
  ]),
});
const labels = z
  .strictObject({
    repo,
    issue: number,
    add: z.array(z.string().min(1)).optional(),
    remove: z.array(z.string().min(1)).optional(),
  })
  .refine((p) => (p.add?.length ?? 0) + (p.remove?.length ?? 0) > 0, {
    message: 'expected labels to add or remove',
  });

type CheckRun = z.output<typeof checkRun>;
type Comment = z.output<typeof comment>;

export const ACTIONS: Record<string, Record<string, ActionSpec>> = {
  github: {
    comment: {
      params: comment,
      lane: (p: Comment, key) => `github:${p.repo}#${p.issue}:${p.marker ?? key}`,
    },
    createCheckRun: {
      params: checkRun,
      lane: (p: CheckRun) => `github:${p.repo}@${p.headSha}:check:${p.name}`,
    },
    completeCheckRun: {
      params: completeCheckRun,
      lane: (p: CheckRun) => `github:${p.repo}@${p.headSha}:check:${p.name}`,
    },
    status: {
      params: z.strictObject({
        repo,
        sha,
        state: z.enum(['error', 'failure', 'pending', 'success']),
        context: z.string().min(1).max(255).optional(),
        description: z.string().max(140).optional(),
        targetUrl: z.url().optional(),
      }),
    },
    labels: {
      params: labels,
      lane: (p: { repo: string; issue: number }) => `github:${p.repo}#${p.issue}:labels`,
    },
    review: {
      params: z.strictObject({
        repo,
        pull: number,
        event: z.enum(['COMMENT', 'APPROVE', 'REQUEST_CHANGES']),
        body: z.string().max(65_000).optional(),
        commitId: sha.optional(),
        comments: z
          .array(
            z.strictObject({
              path: z.string().min(1),
              line: number.optional(),
              side: z.enum(['LEFT', 'RIGHT']).optional(),
              body: z.string().min(1),
            }),
          )
          .optional(),
      }),
      lane: (p: { repo: string; pull: number }, key) => `github:${p.repo}#${p.pull}:review:${key}`,
    },
  },
  slack: {
    postMessage: {
      params: z.strictObject({
        channel: z.string().min(1),
        text: z.string().min(1).max(40_000),
        blocks: z.array(z.unknown()).optional(),
        threadTs: z.string().min(1).optional(),
        unfurlLinks: z.boolean().optional(),
      }),
    },
    updateMessage: {
      params: z.strictObject({
        channel: z.string().min(1),
        ts: z.string().min(1),
        text: z.string().min(1).max(40_000),
        blocks: z.array(z.unknown()).optional(),
      }),
      lane: (p: { channel: string; ts: string }) => `slack:${p.channel}:${p.ts}`,
    },
    addReaction: {
      params: z.strictObject({
        channel: z.string().min(1),
        ts: z.string().min(1),
        name: z.string().regex(/^[a-z0-9_+'-]+$/, 'expected an emoji name without colons'),
      }),
    },
  },
  http: {
    post: {
      params: z.strictObject({ target: z.string().min(1), body: z.unknown() }),
    },
  },
  bus: {
    // The event is derived (ids, chain) when recorded; what is stored is the whole envelope.
    publish: { params: z.looseObject({ type: z.string().min(1), id: z.string().min(1) }) },
  },
};

export const SINK_NAMES = ['github', 'slack', 'http', 'bus'] as const;
export type SinkName = (typeof SINK_NAMES)[number];
