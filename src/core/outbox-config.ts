// The `outbox` section of agentd.config.ts: sinks (GitHub, Slack, HTTP targets), dry run, approval,
// retries and rate limits; and the per-route `dryRun` / `approval` options.
import { z } from 'zod';
import { secretSchema } from './source-fields.js';

const positiveInt = z.int().positive();

/** `true`, or how long an unanswered approval request lives. */
export const approvalSchema = z.union([z.boolean(), z.strictObject({ expiresInMs: positiveInt })]);

/** A token bucket: `perSecond` on average, up to `burst` at once. */
const rateLimitSchema = z.strictObject({
  perSecond: z.number().positive().max(100_000),
  burst: positiveInt.max(100_000).optional(),
});

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

/** Fields every sink shares. */
const sinkFields = {
  /** Sends per second to this sink. Defaults: GitHub 1/s (burst 20), Slack 1/s (burst 10), HTTP 20/s. */
  rateLimit: rateLimitSchema.optional(),
  /** Sends of this sink in flight at once. Default 4. */
  concurrency: positiveInt.max(1_000).optional(),
  /** One request's time limit. Default 30000. */
  timeoutMs: positiveInt.max(600_000).optional(),
};

const githubSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('token'),
    /** A personal access token or any token GitHub accepts as `Authorization: Bearer`. */
    token: secretSchema,
    /** GitHub Enterprise Server: `https://github.example.com/api/v3`. Default api.github.com. */
    baseUrl: httpUrl.optional(),
    ...sinkFields,
  }),
  z.strictObject({
    kind: z.literal('app'),
    appId: z.union([positiveInt, z.string().regex(/^\d+$/, 'expected a numeric app id')]),
    /** The app's private key (PEM). */
    privateKey: secretSchema,
    /** Default: looked up per repository (the app must be installed on it). */
    installationId: positiveInt.optional(),
    baseUrl: httpUrl.optional(),
    ...sinkFields,
  }),
]);

const slackSchema = z.strictObject({
  /** A bot token (`xoxb-...`). */
  token: secretSchema,
  /** Default `https://slack.com/api/`. */
  apiUrl: httpUrl.optional(),
  ...sinkFields,
});

const targetNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 letters, digits, "-" or "_"');

const httpTargetSchema = z.strictObject({
  url: httpUrl,
  /** Standard Webhooks secret (`whsec_<base64>`); without one, requests are not signed. */
  secret: secretSchema.optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

const httpSchema = z.strictObject({
  targets: z.record(targetNameSchema, httpTargetSchema),
  ...sinkFields,
});

export const outboxConfigSchema = z.strictObject({
  /** Record every action and send none (`agentd outbox list` shows them). Default false. */
  dryRun: z.boolean().optional(),
  /** Actions sent at once across all sinks. Default 16. */
  concurrency: positiveInt.max(10_000).optional(),
  /** Send attempts before an action is dead-lettered. Default 8. */
  maxAttempts: positiveInt.max(1_000).optional(),
  /** Backoff between attempts, with jitter; a sink's `retry-after` takes precedence. */
  backoff: z
    .strictObject({
      initialMs: z.int().min(0).optional(),
      maxMs: z.int().min(0).optional(),
      factor: z.number().min(1).max(100).optional(),
    })
    .optional(),
  /** Approval requests expire after this long unless an action or route says otherwise. Default 24 h. */
  approval: z.strictObject({ expiresInMs: positiveInt }).optional(),
  github: githubSchema.optional(),
  slack: slackSchema.optional(),
  http: httpSchema.optional(),
});

export type OutboxConfig = z.output<typeof outboxConfigSchema>;
export type GithubSinkConfig = z.output<typeof githubSchema>;
export type SlackSinkConfig = z.output<typeof slackSchema>;
export type HttpSinkConfig = z.output<typeof httpSchema>;
export type RateLimitConfig = z.output<typeof rateLimitSchema>;
