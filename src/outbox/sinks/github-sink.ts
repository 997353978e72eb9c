// The GitHub sink: comments (one per marker, edited on re-runs), check runs (found by name on the
// commit, so creating and completing are both idempotent), commit statuses, labels and reviews
// (marked in their body, so a resent review is found instead of posted twice).
import type { Octokit } from '@octokit/rest';
import type {
  GithubCheckRunParams,
  GithubCommentParams,
  GithubCompleteCheckRunParams,
  GithubLabelsParams,
  GithubReviewParams,
  GithubStatusParams,
} from '../../core/outbox-api.js';
import { retryableStatus, retryAfterMs, SinkError, type Sink, type SinkDelivery } from '../sink.js';
import { GithubClients, type GithubClientOptions } from './github-client.js';

/** The hidden marker a comment or review carries. */
export function markerTag(marker: string): string {
  return `<!-- agentd:${marker} -->`;
}

export class GithubSink implements Sink {
  readonly name = 'github';
  private readonly clients: GithubClients;

  constructor(options: GithubClientOptions) {
    this.clients = new GithubClients(options);
  }

  async deliver(delivery: SinkDelivery): Promise<unknown> {
    const repo = (delivery.params as { repo: string }).repo;
    try {
      const octokit = await this.clients.for(repo);
      const [owner = '', name = ''] = repo.split('/');
      const call = new GithubCall(octokit, owner, name, delivery);
      switch (delivery.action) {
        case 'comment':
          return await call.comment(delivery.params as GithubCommentParams);
        case 'createCheckRun':
          return await call.checkRun(delivery.params as GithubCheckRunParams);
        case 'completeCheckRun':
          return await call.checkRun(delivery.params as GithubCompleteCheckRunParams);
        case 'status':
          return await call.status(delivery.params as GithubStatusParams);
        case 'labels':
          return await call.labels(delivery.params as GithubLabelsParams);
        case 'review':
          return await call.review(delivery.params as GithubReviewParams);
        default:
          throw new SinkError(`github: no action ${delivery.action}`, { retryable: false });
      }
    } catch (error) {
      throw githubError(delivery.action, error);
    }
  }
}

/** One action against one repository. */
class GithubCall {
  private readonly request: { signal: AbortSignal };

  constructor(
    private readonly octokit: Octokit,
    private readonly owner: string,
    private readonly repo: string,
    private readonly delivery: SinkDelivery,
  ) {
    this.request = { signal: delivery.signal };
  }

  async comment(params: GithubCommentParams) {
    const tag = markerTag(params.marker ?? this.delivery.key);
    const body = `${params.body}\n\n${tag}`;
    const where = { owner: this.owner, repo: this.repo, request: this.request };
    // A comment keyed by this action alone cannot exist before the first attempt: no lookup then.
    if (params.marker !== undefined || this.delivery.mayHaveSent) {
      const iterator = this.octokit.paginate.iterator(this.octokit.rest.issues.listComments, {
        ...where,
        issue_number: params.issue,
        per_page: 100,
      });
      for await (const page of iterator) {
        const found = page.data.find((c) => c.body?.includes(tag) === true);
        if (found === undefined) continue;
        if (found.body === body) return { id: found.id, url: found.html_url, changed: false };
        const { data } = await this.octokit.rest.issues.updateComment({
          ...where,
          comment_id: found.id,
          body,
        });
        return { id: data.id, url: data.html_url, updated: true };
      }
    }
    const { data } = await this.octokit.rest.issues.createComment({
      ...where,
      issue_number: params.issue,
      body,
    });
    return { id: data.id, url: data.html_url, created: true };
  }

  async checkRun(params: GithubCheckRunParams | GithubCompleteCheckRunParams) {
    const where = { owner: this.owner, repo: this.repo, request: this.request };
    const completed = 'conclusion' in params;
    const fields = {
      name: params.name,
      ...(params.detailsUrl === undefined ? {} : { details_url: params.detailsUrl }),
      ...(params.externalId === undefined ? {} : { external_id: params.externalId }),
      ...(params.output === undefined ? {} : { output: params.output }),
      ...(completed
        ? {
            status: 'completed' as const,
            conclusion: params.conclusion,
            completed_at: new Date().toISOString(),
          }
        : { status: params.status ?? ('in_progress' as const) }),
    };
    const { data: listed } = await this.octokit.rest.checks.listForRef({
      ...where,
      ref: params.headSha,
      check_name: params.name,
      filter: 'latest',
      per_page: 1,
    });
    const existing = listed.check_runs[0];
    if (existing !== undefined) {
      const { data } = await this.octokit.rest.checks.update({
        ...where,
        check_run_id: existing.id,
        ...fields,
      });
      return { id: data.id, url: data.html_url, status: data.status, updated: true };
    }
    const { data } = await this.octokit.rest.checks.create({
      ...where,
      head_sha: params.headSha,
      ...fields,
    });
    return { id: data.id, url: data.html_url, status: data.status, created: true };
  }

  async status(params: GithubStatusParams) {
    const { data } = await this.octokit.rest.repos.createCommitStatus({
      owner: this.owner,
      repo: this.repo,
      request: this.request,
      sha: params.sha,
      state: params.state,
      context: params.context ?? 'agentd',
      ...(params.description === undefined ? {} : { description: params.description }),
      ...(params.targetUrl === undefined ? {} : { target_url: params.targetUrl }),
    });
    return { id: data.id, state: data.state, context: data.context };
  }

  async labels(params: GithubLabelsParams) {
    const where = {
      owner: this.owner,
      repo: this.repo,
      issue_number: params.issue,
      request: this.request,
    };
    if (params.add !== undefined && params.add.length > 0)
      await this.octokit.rest.issues.addLabels({ ...where, labels: params.add });
    for (const name of params.remove ?? []) {
      try {
        await this.octokit.rest.issues.removeLabel({ ...where, name });
      } catch (error) {
        // Already gone (or never there): the outcome wanted is reached.
        if ((error as { status?: number }).status !== 404) throw error;
      }
    }
    return { added: params.add ?? [], removed: params.remove ?? [] };
  }

  async review(params: GithubReviewParams) {
    const tag = markerTag(this.delivery.key);
    const where = {
      owner: this.owner,
      repo: this.repo,
      pull_number: params.pull,
      request: this.request,
    };
    if (this.delivery.mayHaveSent) {
      const iterator = this.octokit.paginate.iterator(this.octokit.rest.pulls.listReviews, {
        ...where,
        per_page: 100,
      });
      for await (const page of iterator) {
        const found = page.data.find((r) => r.body.includes(tag));
        if (found !== undefined) return { id: found.id, url: found.html_url, changed: false };
      }
    }
    const { data } = await this.octokit.rest.pulls.createReview({
      ...where,
      event: params.event,
      body: `${params.body ?? ''}\n\n${tag}`.trimStart(),
      ...(params.commitId === undefined ? {} : { commit_id: params.commitId }),
      ...(params.comments === undefined
        ? {}
        : {
            comments: params.comments.map((c) => ({
              path: c.path,
              body: c.body,
              ...(c.line === undefined ? {} : { line: c.line }),
              ...(c.side === undefined ? {} : { side: c.side }),
            })),
          }),
    });
    return { id: data.id, url: data.html_url, created: true };
  }
}

interface OctokitFailure {
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined>; data?: unknown };
}

/**
 * Octokit's RequestError as a SinkError. Rate limits (429, or 403 with the limit used up or a
 * retry-after) wait as GitHub says; 5xx and network failures retry; other 4xx land in the DLQ.
 */
export function githubError(action: string, error: unknown): SinkError {
  if (error instanceof SinkError) return error;
  const failure = error as OctokitFailure;
  const status = typeof failure.status === 'number' ? failure.status : undefined;
  const message = failure.message ?? String(error);
  if (status === undefined || failure.response === undefined)
    return new SinkError(`github ${action}: ${message}`, { retryable: true, cause: error });
  const headers = failure.response.headers ?? {};
  const header = (name: string) => {
    const value = headers[name];
    return value === undefined ? undefined : String(value);
  };
  const exhausted = header('x-ratelimit-remaining') === '0';
  const reset = Number(header('x-ratelimit-reset'));
  const wait =
    retryAfterMs(header('retry-after')) ??
    (exhausted && Number.isFinite(reset) ? Math.max(0, reset * 1_000 - Date.now()) : undefined);
  const rateLimited = status === 429 || (status === 403 && (exhausted || wait !== undefined));
  const retryable = rateLimited || retryableStatus(status);
  return new SinkError(`github ${action}: ${status} ${message}`, {
    retryable,
    retryAfterMs: retryable ? wait : undefined,
    status,
    body: failure.response.data,
    cause: error,
  });
}
