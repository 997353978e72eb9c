// The PR reviewer: on github.pull_request.opened / synchronize, an agent reads the diff through a
// tool bound to that pull request and writes a review, emitted as `review.ready`; the `post-review`
// route posts it on the pull request through the outbox (one comment per pull request, edited on
// later pushes). Without GITHUB_TOKEN, or with AGENTD_DRY_RUN=1, nothing is posted: the comment is
// recorded as a dry run for `agentd outbox list`. Runs against a local OpenAI-compatible model
// (Ollama by default) or Anthropic: see "Agents" and "Outbox" in the README.
import { agent, defineConfig, defineTool, NonRetryableError, on, type AgentdEvent } from 'agentd';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';

interface PullRequestEvent {
  action: string;
  number: number;
  pull_request: {
    url: string;
    html_url: string;
    title: string;
    body: string | null;
    draft?: boolean;
    user: { login: string };
    head: { ref: string; sha: string };
    base: { ref: string };
  };
  repository: { full_name: string };
}

interface ReviewReady {
  repository: string;
  number: number;
  review: z.output<typeof review>;
}

const review = z.object({
  verdict: z.enum(['approve', 'comment', 'request_changes']),
  summary: z.string(),
  comments: z
    .array(z.object({ path: z.string(), line: z.number().optional(), body: z.string() }))
    .default([]),
});

const env = process.env;
const anthropic = env.PR_REVIEWER_PROVIDER === 'anthropic';
const GITHUB_API = env.GITHUB_API_URL ?? 'https://api.github.com';
const MAX_DIFF_BYTES = 200_000;

/** The pull request's diff: from PR_DIFF_DIR (`<number>.diff`, for demos), else from GitHub. */
async function fetchDiff(event: PullRequestEvent, signal: AbortSignal): Promise<string> {
  if (!Number.isSafeInteger(event.number)) throw new Error('the event has no pull request number');
  if (env.PR_DIFF_DIR !== undefined) {
    return readFile(join(resolve(env.PR_DIFF_DIR), `${event.number}.diff`), 'utf8');
  }
  // The URL comes from the payload: only GitHub's API is ever asked, with the token it is meant for.
  const url = event.pull_request.url;
  if (!url.startsWith(`${GITHUB_API}/repos/`))
    throw new Error(`unexpected pull request URL ${url}`);
  const response = await fetch(url, {
    headers: {
      accept: 'application/vnd.github.diff',
      'user-agent': 'agentd-pr-reviewer',
      ...(env.GITHUB_TOKEN === undefined ? {} : { authorization: `Bearer ${env.GITHUB_TOKEN}` }),
    },
    signal,
  });
  if (!response.ok) throw new Error(`GitHub answered ${response.status} for the diff`);
  const diff = await response.text();
  return diff.length > MAX_DIFF_BYTES
    ? `${diff.slice(0, MAX_DIFF_BYTES)}\n[diff truncated at ${MAX_DIFF_BYTES} bytes]`
    : diff;
}

const readDiff = defineTool({
  name: 'read_diff',
  description: 'Returns the unified diff of the pull request under review.',
  input: z.object({}),
  // Bound to the event's own pull request, so the model cannot point it anywhere else: safe to
  // offer to runs triggered by webhooks (trust: external).
  external: true,
  run: (_input, ctx) => fetchDiff(ctx.event.data as PullRequestEvent, ctx.signal),
});

const reviewer = agent<PullRequestEvent>({
  name: 'pr-reviewer',
  provider: anthropic
    ? { kind: 'anthropic' }
    : { kind: 'openai', baseURL: env.PR_REVIEWER_BASE_URL ?? 'http://127.0.0.1:11434/v1' },
  model: env.PR_REVIEWER_MODEL ?? (anthropic ? 'claude-sonnet-4-5' : 'qwen2.5-coder:7b'),
  system:
    'You review pull requests. Be specific and brief: point at real bugs, missing tests and unclear code, not at style a formatter would fix.',
  prompt: (event) =>
    [
      `Review pull request #${event.data?.number ?? '?'}. Call read_diff to see the changes.`,
      'Answer with JSON only: {"verdict": "approve" | "comment" | "request_changes", "summary": string, "comments": [{"path": string, "line": number, "body": string}]}.',
    ].join('\n'),
  // What the model sees of the pull request; title and description are the author's words, so
  // they go in as data (for webhook events, inside the untrusted-data block).
  input: (event) => ({
    repository: event.data?.repository.full_name,
    title: event.data?.pull_request.title,
    description: event.data?.pull_request.body,
    author: event.data?.pull_request.user.login,
    base: event.data?.pull_request.base.ref,
    head: event.data?.pull_request.head.ref,
  }),
  tools: { custom: [readDiff] },
  output: 'json',
  maxTurns: 6,
  maxTokens: 150_000,
  maxOutputTokens: 2_000,
  timeoutMs: 5 * 60_000,
  ...(anthropic ? { price: { inputPerMTok: 3, outputPerMTok: 15 } } : {}),
});

/** The review as a pull request comment (Markdown). */
function commentBody(ready: ReviewReady): string {
  const { verdict, summary, comments } = ready.review;
  const notes = comments.map(
    (c) => `- \`${c.path}${c.line === undefined ? '' : `:${c.line}`}\`: ${c.body}`,
  );
  return [`**agentd review**: ${verdict.replace('_', ' ')}`, '', summary, '', ...notes].join('\n');
}

const dryRun = env.GITHUB_TOKEN === undefined || env.AGENTD_DRY_RUN === '1';

export default defineConfig({
  outbox: {
    dryRun,
    ...(env.GITHUB_TOKEN === undefined
      ? {}
      : {
          github: {
            kind: 'token' as const,
            token: { env: 'GITHUB_TOKEN' },
            ...(env.GITHUB_API_URL === undefined ? {} : { baseUrl: env.GITHUB_API_URL }),
          },
        }),
  },
  // With a webhook secret set, GitHub delivers pull requests to /hooks/github (trust: external);
  // without one, feed events in with `agentd emit` (see the README).
  ...(env.GITHUB_WEBHOOK_SECRET === undefined
    ? {}
    : { sources: [{ kind: 'github' as const, secret: { env: 'GITHUB_WEBHOOK_SECRET' } }] }),
  routes: [
    on<PullRequestEvent>(['github.pull_request.opened', 'github.pull_request.synchronize'], {
      name: 'pr-reviewer',
      concurrency: 2,
      timeoutMs: 10 * 60_000,
      retries: { maxAttempts: 4, initialMs: 5_000 },
      filter: (event) => event.data?.pull_request.draft !== true,
      handler: async (event: AgentdEvent<PullRequestEvent>, ctx) => {
        const pr = event.data;
        if (pr === undefined) throw new NonRetryableError('the event carries no pull request');
        const result = await reviewer(event, ctx);
        const parsed = review.safeParse(result.output);
        ctx.emit({
          type: 'review.ready',
          subject: pr.pull_request.html_url,
          partitionkey: `${pr.repository.full_name}#${pr.number}`,
          data: {
            repository: pr.repository.full_name,
            number: pr.number,
            headSha: pr.pull_request.head.sha,
            // A model that strays from the schema still leaves a readable review behind.
            review: parsed.success
              ? parsed.data
              : { verdict: 'comment', summary: result.text, comments: [] },
            usage: result.usage,
          },
        });
        return result;
      },
    }),
    // Posts the review: one comment per pull request (its marker), edited when a push re-reviews.
    on<ReviewReady>('review.ready', {
      name: 'post-review',
      handler: (event, ctx) => {
        const ready = event.data;
        if (ready === undefined) throw new NonRetryableError('review.ready without a review');
        const posted = ctx.outbox.github.comment({
          repo: ready.repository,
          issue: ready.number,
          body: commentBody(ready),
          marker: 'pr-reviewer',
        });
        ctx.log.info(
          { review: ready.review, action: posted.key },
          `review ${dryRun ? 'recorded as a dry run' : 'queued for GitHub'}: ${event.subject ?? ''}`,
        );
      },
    }),
  ],
});
