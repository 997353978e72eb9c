// GitHub contracts of code and CI: pushes, branches and tags, commit statuses, check runs and
// suites, workflow runs and jobs, releases, and the webhook's ping.
import { z } from 'zod';
import {
  exampleRepositoryEvent,
  exampleSha,
  githubCheckRun,
  githubCheckSuite,
  githubCommit,
  githubRelease,
  githubWorkflowJob,
  githubWorkflowRun,
  repositoryEvent,
} from './github-objects.js';
import { actions, single } from './github-family.js';

const checkRun = actions(
  'check_run',
  ['completed', 'created', 'requested_action', 'rerequested'],
  { check_run: githubCheckRun, ...repositoryEvent },
  {
    check_run: {
      id: 5,
      name: 'test',
      head_sha: exampleSha,
      status: 'completed',
      conclusion: 'success',
      html_url: 'https://github.com/octocat/hello-world/runs/5',
    },
    ...exampleRepositoryEvent,
  },
  'a check run was created, completed or re-requested',
);

const checkSuite = actions(
  'check_suite',
  ['completed', 'requested', 'rerequested'],
  { check_suite: githubCheckSuite, ...repositoryEvent },
  {
    check_suite: {
      id: 6,
      head_branch: 'main',
      head_sha: exampleSha,
      status: 'completed',
      conclusion: 'failure',
    },
    ...exampleRepositoryEvent,
  },
  'a check suite was requested or completed',
);

const workflowRun = actions(
  'workflow_run',
  ['completed', 'in_progress', 'requested'],
  { workflow_run: githubWorkflowRun, ...repositoryEvent },
  {
    workflow_run: {
      id: 7,
      name: 'CI',
      head_branch: 'main',
      head_sha: exampleSha,
      status: 'completed',
      conclusion: 'success',
      html_url: 'https://github.com/octocat/hello-world/actions/runs/7',
      run_number: 12,
      event: 'push',
    },
    ...exampleRepositoryEvent,
  },
  'a GitHub Actions workflow run was requested, started or completed',
);

const workflowJob = actions(
  'workflow_job',
  ['completed', 'in_progress', 'queued', 'waiting'],
  { workflow_job: githubWorkflowJob, ...repositoryEvent },
  {
    workflow_job: {
      id: 8,
      run_id: 7,
      name: 'build',
      head_sha: exampleSha,
      status: 'completed',
      conclusion: 'failure',
      html_url: 'https://github.com/octocat/hello-world/actions/runs/7/job/8',
    },
    ...exampleRepositoryEvent,
  },
  'a job of a workflow run was queued, started or completed',
);

const release = actions(
  'release',
  ['created', 'deleted', 'edited', 'prereleased', 'published', 'released', 'unpublished'],
  { release: githubRelease, ...repositoryEvent },
  {
    release: {
      id: 9,
      tag_name: 'v1.2.0',
      name: 'v1.2.0',
      body: 'Sprockets.',
      draft: false,
      prerelease: false,
      html_url: 'https://github.com/octocat/hello-world/releases/tag/v1.2.0',
    },
    ...exampleRepositoryEvent,
  },
  'a release was created, published or changed',
);

const push = single(
  'push',
  {
    ref: z.string(),
    before: z.string(),
    after: z.string(),
    created: z.boolean(),
    deleted: z.boolean(),
    forced: z.boolean(),
    compare: z.string(),
    commits: z.array(githubCommit),
    head_commit: githubCommit.nullable(),
    pusher: z.object({ name: z.string(), email: z.string().nullable().optional() }),
    ...repositoryEvent,
  },
  {
    ref: 'refs/heads/main',
    before: '9049f1265b7d61be4a8904a9a27120d2064dab3b',
    after: exampleSha,
    created: false,
    deleted: false,
    forced: false,
    compare: 'https://github.com/octocat/hello-world/compare/9049f1265b7d...6dcb09b5b578',
    commits: [
      {
        id: exampleSha,
        message: 'Add a sprocket option',
        timestamp: '2026-11-20T10:00:00Z',
        url: `https://github.com/octocat/hello-world/commit/${exampleSha}`,
      },
    ],
    head_commit: null,
    pusher: { name: 'octocat', email: 'octocat@example.com' },
    ...exampleRepositoryEvent,
  },
  'commits were pushed to a branch or tag',
);

const refShape = { ref: z.string(), ref_type: z.enum(['branch', 'tag']), ...repositoryEvent };
const refExample = { ref: 'sprocket', ref_type: 'branch', ...exampleRepositoryEvent };
const create = single('create', refShape, refExample, 'a branch or tag was created');
const remove = single('delete', refShape, refExample, 'a branch or tag was deleted');

const status = single(
  'status',
  {
    sha: z.string(),
    state: z.enum(['pending', 'success', 'failure', 'error']),
    context: z.string(),
    target_url: z.string().nullable(),
    description: z.string().nullable().optional(),
    ...repositoryEvent,
  },
  {
    sha: exampleSha,
    state: 'success',
    context: 'ci/build',
    target_url: null,
    description: 'Build passed',
    ...exampleRepositoryEvent,
  },
  "a commit's status changed",
);

const workflowDispatch = single(
  'workflow_dispatch',
  {
    ref: z.string(),
    workflow: z.string(),
    inputs: z.record(z.string(), z.unknown()).nullable(),
    ...repositoryEvent,
  },
  {
    ref: 'refs/heads/main',
    workflow: '.github/workflows/deploy.yml',
    inputs: { environment: 'staging' },
    ...exampleRepositoryEvent,
  },
  'a workflow was started by hand',
);

const ping = single(
  'ping',
  {
    zen: z.string(),
    hook_id: z.number(),
    hook: z.object({ id: z.number() }),
    repository: repositoryEvent.repository.optional(),
    sender: repositoryEvent.sender.optional(),
  },
  { zen: 'Keep it logically awesome.', hook_id: 11, hook: { id: 11 } },
  'GitHub checks that a new webhook answers',
);

export const codeTypes = {
  ...checkRun.named,
  ...checkSuite.named,
  ...workflowRun.named,
  ...workflowJob.named,
  ...release.named,
  githubPush: push.type,
  githubCreate: create.type,
  githubDelete: remove.type,
  githubStatus: status.type,
  githubWorkflowDispatch: workflowDispatch.type,
  githubPing: ping.type,
};

export const codeFamilies = [
  push.family,
  checkRun.family,
  checkSuite.family,
  workflowRun.family,
  workflowJob.family,
  release.family,
  create.family,
  remove.family,
  status.family,
  workflowDispatch.family,
  ping.family,
];
