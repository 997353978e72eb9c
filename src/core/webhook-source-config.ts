// Config schemas of the webhook sources (routes on the ingress server at /hooks/<name>).
import { z } from 'zod';
import { secretsSchema, webhookFields } from './source-fields.js';
import { typeTemplateProblem } from './type-template.js';

/** GitHub repository or organization webhooks, verified with X-Hub-Signature-256. */
export const githubSourceSchema = z.strictObject({
  kind: z.literal('github'),
  ...webhookFields,
  /** The webhook's secret; several while rotating. */
  secret: secretsSchema,
});

/** Slack Events API, verified with the app's signing secret (v0 signatures). */
export const slackSourceSchema = z.strictObject({
  kind: z.literal('slack'),
  ...webhookFields,
  signingSecret: secretsSchema,
});

const template = z.string().superRefine((value, ctx) => {
  const problem = typeTemplateProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** Any sender of Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature). */
export const standardWebhookSourceSchema = z
  .strictObject({
    kind: z.literal('webhook'),
    ...webhookFields,
    /** Standard Webhooks secret(s), `whsec_<base64>`. Required unless `insecure: true`. */
    secret: secretsSchema.optional(),
    /** Accept unsigned requests. Only for trusted networks; logged as a warning at start. */
    insecure: z.boolean().optional(),
    /** Event type, filled from the JSON body. Default `webhook.<name>.{{type}}`. */
    type: template.optional(),
    /** Partition key, filled from the JSON body, e.g. `{{data.customer}}`. Default none. */
    key: z.string().min(1).max(200).optional(),
    /** `dataschema` stamped on each event, e.g. `agentd:billing/v1`. Default none. */
    dataschema: z.string().min(1).max(1024).optional(),
  })
  .superRefine((value, ctx) => {
    if (value.secret === undefined && value.insecure !== true)
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'expected a secret; unsigned endpoints need insecure: true, explicitly',
      });
    if (value.secret !== undefined && value.insecure === true)
      ctx.addIssue({
        code: 'custom',
        path: ['insecure'],
        message: 'expected either secret or insecure: true, not both',
      });
  });
