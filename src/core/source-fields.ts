// Config fields every source kind shares: its name (its URL path for webhooks) and secrets that are
// given literally or read from the environment at start.
import { z } from 'zod';

/** A source name is a URL path segment (/hooks/<name>) and part of each event's `source`. */
export const sourceNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,63}$/,
    'expected 1-64 lower-case letters, digits, "-" or "_" (it becomes the path /hooks/<name>)',
  );

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A secret: the value itself, or `{ env: 'NAME' }` to read it from the environment at start. */
export const secretSchema = z.union(
  [
    z.string().min(1, 'expected a non-empty secret'),
    z.strictObject({
      env: z.string().regex(ENV_NAME, 'expected an environment variable name such as "MY_SECRET"'),
    }),
  ],
  { error: 'expected a secret string or { env: "NAME" }' },
);

/** One secret, or several while rotating: any of them verifies a request. */
export const secretsSchema = z.union(
  [secretSchema, z.array(secretSchema).min(1, 'expected at least one secret').max(10)],
  { error: 'expected a secret string, { env: "NAME" }, or an array of them (for rotation)' },
);

export type SecretInput = z.output<typeof secretSchema>;
export type SecretsInput = z.output<typeof secretsSchema>;

/** Fields of every source that is a route on the ingress HTTP server. */
export const webhookFields = {
  name: sourceNameSchema.optional(),
  /** Largest accepted body for this endpoint; default server.bodyLimitBytes. */
  bodyLimitBytes: z.int().positive().optional(),
};
