// The objects GitHub webhook payloads are made of, as permissive as GitHub is: only what agentd and
// typical handlers read is declared, strictly (the repository's full_name for subject and partition
// key, thread numbers, actions); undeclared fields are accepted and stored as sent, since agentd
// checks data and never rewrites it. z.object, not looseObject: zod's parse copies every undeclared
// field of a loose object, which costs some 50 times more on a GitHub payload for the same verdict.
import { z } from 'zod';

const id = z.number();
const url = z.string();
/** GitHub sends null for many absent texts (a pull request without a description). */
const text = z.string().nullable();

export const githubUser = z.object({ login: z.string(), id, type: z.string().optional() });

export const githubRepository = z.object({
  id,
  name: z.string(),
  /** `owner/name`: agentd's subject and partition key for the event. */
  full_name: z.string(),
  private: z.boolean(),
  owner: githubUser,
  html_url: url,
  default_branch: z.string().optional(),
});

export const githubLabel = z.object({ id, name: z.string(), color: z.string().optional() });

const branch = z.object({
  ref: z.string(),
  sha: z.string(),
  label: z.string().optional(),
  repo: githubRepository.nullable().optional(),
});

export const githubPullRequest = z.object({
  id,
  /** The pull request's number: with the repository, the partition key. */
  number: z.number(),
  html_url: url,
  state: z.enum(['open', 'closed']),
  title: z.string(),
  body: text,
  user: githubUser,
  draft: z.boolean().optional(),
  head: branch,
  base: branch,
  labels: z.array(githubLabel).optional(),
  merged: z.boolean().nullable().optional(),
  merge_commit_sha: text.optional(),
});

export const githubIssue = z.object({
  id,
  number: z.number(),
  html_url: url,
  title: z.string(),
  body: text.optional(),
  user: githubUser,
  state: z.enum(['open', 'closed']).optional(),
  labels: z.array(githubLabel).optional(),
  /** Present when the issue is a pull request (comments on pull requests are issue comments). */
  pull_request: z.object({ url: url.optional() }).optional(),
});

export const githubComment = z.object({
  id,
  body: z.string(),
  user: githubUser.nullable(),
  html_url: url,
});

export const githubReviewComment = githubComment.extend({
  path: z.string(),
  pull_request_review_id: z.number().nullable().optional(),
});

export const githubReview = z.object({
  id,
  body: text,
  state: z.string(),
  user: githubUser.nullable(),
  html_url: url,
  commit_id: z.string().optional(),
});

export const githubCheckRun = z.object({
  id,
  name: z.string(),
  head_sha: z.string(),
  status: z.string(),
  conclusion: text,
  html_url: url.nullable().optional(),
});

export const githubCheckSuite = z.object({
  id,
  head_branch: text,
  head_sha: z.string(),
  status: text,
  conclusion: text,
});

export const githubWorkflowRun = z.object({
  id,
  name: text.optional(),
  head_branch: text,
  head_sha: z.string(),
  status: text,
  conclusion: text,
  html_url: url,
  run_number: z.number(),
  event: z.string(),
});

export const githubWorkflowJob = z.object({
  id,
  run_id: z.number(),
  name: z.string(),
  head_sha: z.string(),
  status: z.string(),
  conclusion: text,
  html_url: url.nullable(),
});

export const githubRelease = z.object({
  id,
  tag_name: z.string(),
  name: text,
  body: text.optional(),
  draft: z.boolean(),
  prerelease: z.boolean(),
  html_url: url,
});

export const githubDiscussion = z.object({
  id,
  number: z.number(),
  title: z.string(),
  body: text,
  html_url: url,
  user: githubUser,
});

export const githubCommit = z.object({
  id: z.string(),
  message: z.string(),
  timestamp: z.string(),
  url,
});

/** The fields of every repository event: where it happened and who did it. */
export const repositoryEvent = {
  repository: githubRepository,
  sender: githubUser,
  organization: z.object({ login: z.string() }).optional(),
  installation: z.object({ id }).optional(),
};

// Small, valid examples of the objects above: the reference page shows them, and the tests check
// that every example keeps its own schema.
export const exampleUser = { login: 'octocat', id: 583231, type: 'User' };
export const exampleRepository = {
  id: 1296269,
  name: 'hello-world',
  full_name: 'octocat/hello-world',
  private: false,
  owner: exampleUser,
  html_url: 'https://github.com/octocat/hello-world',
  default_branch: 'main',
};
export const exampleRepositoryEvent = { repository: exampleRepository, sender: exampleUser };
export const examplePullRequest = {
  id: 1,
  number: 42,
  html_url: 'https://github.com/octocat/hello-world/pull/42',
  state: 'open',
  title: 'Add a sprocket option',
  body: 'Adds `--sprocket`.',
  user: exampleUser,
  draft: false,
  head: { ref: 'sprocket', sha: '6dcb09b5b57875f334f61aebed695e2e4193db5e' },
  base: { ref: 'main', sha: '9049f1265b7d61be4a8904a9a27120d2064dab3b' },
  labels: [],
  merged: false,
};
export const exampleIssue = {
  id: 2,
  number: 7,
  html_url: 'https://github.com/octocat/hello-world/issues/7',
  title: 'The widget crashes on empty input',
  body: 'Steps to reproduce: ...',
  user: exampleUser,
  state: 'open',
  labels: [{ id: 208045946, name: 'bug', color: 'f29513' }],
};
export const exampleComment = {
  id: 3,
  body: 'Looks good to me.',
  user: exampleUser,
  html_url: 'https://github.com/octocat/hello-world/pull/42#issuecomment-3',
};
export const exampleSha = '6dcb09b5b57875f334f61aebed695e2e4193db5e';
