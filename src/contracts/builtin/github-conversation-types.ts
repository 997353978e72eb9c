// GitHub contracts of conversations: pull requests and their reviews, issues, comments and
// discussions.
import { z } from 'zod';
import {
  exampleComment,
  exampleIssue,
  examplePullRequest,
  exampleRepositoryEvent,
  exampleUser,
  githubComment,
  githubDiscussion,
  githubIssue,
  githubPullRequest,
  githubReview,
  githubReviewComment,
  repositoryEvent,
} from './github-objects.js';
import { actions } from './github-family.js';

const pullRequest = actions(
  'pull_request',
  [
    'assigned',
    'auto_merge_disabled',
    'auto_merge_enabled',
    'closed',
    'converted_to_draft',
    'demilestoned',
    'dequeued',
    'edited',
    'enqueued',
    'labeled',
    'locked',
    'milestoned',
    'opened',
    'ready_for_review',
    'reopened',
    'review_request_removed',
    'review_requested',
    'synchronize',
    'unassigned',
    'unlabeled',
    'unlocked',
  ],
  { number: z.number(), pull_request: githubPullRequest, ...repositoryEvent },
  { number: 42, pull_request: examplePullRequest, ...exampleRepositoryEvent },
  'a pull request was opened, changed or closed',
);

const pullRequestLite = githubPullRequest.partial().extend({
  number: z.number(),
  html_url: z.string(),
  head: githubPullRequest.shape.head,
  base: githubPullRequest.shape.base,
});

const review = actions(
  'pull_request_review',
  ['dismissed', 'edited', 'submitted'],
  { review: githubReview, pull_request: pullRequestLite, ...repositoryEvent },
  {
    review: {
      id: 4,
      body: 'Two nits, otherwise fine.',
      state: 'commented',
      user: exampleUser,
      html_url: 'https://github.com/octocat/hello-world/pull/42#pullrequestreview-4',
    },
    pull_request: examplePullRequest,
    ...exampleRepositoryEvent,
  },
  'a review on a pull request was submitted, edited or dismissed',
);

const reviewComment = actions(
  'pull_request_review_comment',
  ['created', 'deleted', 'edited'],
  { comment: githubReviewComment, pull_request: pullRequestLite, ...repositoryEvent },
  {
    comment: { ...exampleComment, path: 'src/widget.ts' },
    pull_request: examplePullRequest,
    ...exampleRepositoryEvent,
  },
  "a comment on a pull request's diff",
);

const reviewThread = actions(
  'pull_request_review_thread',
  ['resolved', 'unresolved'],
  {
    thread: z.object({ comments: z.array(githubReviewComment) }),
    pull_request: pullRequestLite,
    ...repositoryEvent,
  },
  {
    thread: { comments: [{ ...exampleComment, path: 'src/widget.ts' }] },
    pull_request: examplePullRequest,
    ...exampleRepositoryEvent,
  },
  'a review thread was resolved or reopened',
);

const issues = actions(
  'issues',
  [
    'assigned',
    'closed',
    'deleted',
    'demilestoned',
    'edited',
    'labeled',
    'locked',
    'milestoned',
    'opened',
    'pinned',
    'reopened',
    'transferred',
    'typed',
    'unassigned',
    'unlabeled',
    'unlocked',
    'unpinned',
    'untyped',
  ],
  { issue: githubIssue, ...repositoryEvent },
  { issue: exampleIssue, ...exampleRepositoryEvent },
  'an issue was opened, changed or closed',
);

const issueComment = actions(
  'issue_comment',
  ['created', 'deleted', 'edited'],
  { issue: githubIssue, comment: githubComment, ...repositoryEvent },
  { issue: exampleIssue, comment: exampleComment, ...exampleRepositoryEvent },
  'a comment on an issue or pull request',
);

const exampleDiscussion = {
  id: 10,
  number: 90,
  title: 'How do I configure sprockets?',
  body: 'Is there a config key?',
  html_url: 'https://github.com/octocat/hello-world/discussions/90',
  user: exampleUser,
};

const discussion = actions(
  'discussion',
  [
    'answered',
    'category_changed',
    'closed',
    'created',
    'deleted',
    'edited',
    'labeled',
    'locked',
    'pinned',
    'reopened',
    'transferred',
    'unanswered',
    'unlabeled',
    'unlocked',
    'unpinned',
  ],
  { discussion: githubDiscussion, ...repositoryEvent },
  { discussion: exampleDiscussion, ...exampleRepositoryEvent },
  'a discussion was created, answered or changed',
);

const discussionComment = actions(
  'discussion_comment',
  ['created', 'deleted', 'edited'],
  { comment: githubComment, discussion: githubDiscussion, ...repositoryEvent },
  { comment: exampleComment, discussion: exampleDiscussion, ...exampleRepositoryEvent },
  'a comment on a discussion',
);

export const conversationTypes = {
  ...pullRequest.named,
  ...review.named,
  ...reviewComment.named,
  ...reviewThread.named,
  ...issues.named,
  ...issueComment.named,
  ...discussion.named,
  ...discussionComment.named,
};

export const conversationFamilies = [
  pullRequest.family,
  review.family,
  reviewComment.family,
  reviewThread.family,
  issues.family,
  issueComment.family,
  discussion.family,
  discussionComment.family,
];
