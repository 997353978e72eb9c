// The governor on events you emit by hand, no external service needed: a pull-request review that a
// newer push replaces and a close cancels, a debounced re-index, batched audit lines, rate-limited
// notifications, a token budget that pauses its route at 100%, and the loop guard stopping a handler
// that triggers itself. Try it with the commands in README.md beside this file; its store lives in
// ./.agentd. DEMO_REVIEW_MS and DEMO_SUMMARY_MS shorten the fake model calls (the test sets them).
import { defineConfig, on } from 'agentd';
import { setTimeout as sleep } from 'node:timers/promises';

interface PullRequest {
  number: number;
  head: string;
}

interface FileChange {
  project: string;
  path: string;
}

interface BudgetThreshold {
  scope: string;
  fraction: number;
  used: number;
  limit: number;
  unit: string;
  window: string;
}

const REVIEW_MS = Number(process.env.DEMO_REVIEW_MS ?? 10_000);
const SUMMARY_MS = Number(process.env.DEMO_SUMMARY_MS ?? 1_000);

/** What a summary costs, shaped like the usage an agent() handler returns (AgentUsage). */
const SUMMARY_USAGE = {
  provider: 'demo',
  model: 'fake-model',
  inputTokens: 2_500,
  outputTokens: 500,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  turns: 1,
  toolCalls: 0,
  totalTokens: 3_000,
};

export default defineConfig({
  server: { port: 7701 }, // beside `npm start`, which takes 7700
  worker: { concurrency: 16 },
  governor: {
    loop: { maxCycles: 3 }, // the default, spelled out: `echo` below runs 4 times, then stops
  },
  routes: [
    // One review per pull request: the route key is the PR number. A new push replaces the review
    // in flight (its ctx.signal fires, the run ends `cancelled`, its outbox action is dropped), and
    // closing the PR cancels it. Different PRs are reviewed side by side, four at most.
    on<PullRequest>(['demo.pr.opened', 'demo.pr.pushed'], {
      name: 'review',
      key: 'data.number',
      singleton: { mode: 'replace' },
      cancelOn: [{ type: 'demo.pr.closed' }],
      concurrency: 4,
      priority: 10, // runs before the other routes when worker.concurrency is scarce
      handler: async (event, ctx) => {
        const { number, head } = event.data ?? { number: 0, head: '?' };
        ctx.log.info(`reviewing PR #${number} at ${head}`);
        // Stands in for an agent call: anything given ctx.signal stops when the run is cancelled.
        await sleep(REVIEW_MS, undefined, { signal: ctx.signal });
        ctx.outbox.bus.publish({
          type: 'demo.review.posted',
          data: { number, head, verdict: 'approve' },
        });
        ctx.log.info(`review of PR #${number} at ${head} posted`);
      },
    }),

    // Editors save in bursts: re-index a project once, with its last change, 3 s after the burst
    // goes quiet (and at most 15 s after it began, however long it lasts).
    on<FileChange>('demo.file.changed', {
      name: 'reindex',
      key: 'data.project',
      debounce: { waitMs: 3_000, maxWaitMs: 15_000 },
      handler: (event, ctx) => {
        ctx.log.info(`re-indexing ${event.data?.project} (last change: ${event.data?.path})`);
      },
    }),

    // Audit lines are written five at a time, or whatever came within 10 s of the first.
    on('demo.audit.logged', {
      name: 'audit',
      batch: { maxSize: 5, maxWaitMs: 10_000 },
      handler: (events, ctx) => {
        const lines = events.map((e) => JSON.stringify(e.data));
        ctx.log.info(`wrote ${events.length} audit lines in one batch: ${lines.join(' ')}`);
      },
    }),

    // A chat channel that tolerates two messages at once, then one every 5 s.
    on('demo.notify', {
      name: 'notify',
      rateLimit: { limit: 2, periodMs: 10_000 },
      handler: (event, ctx) => {
        ctx.log.info({ data: event.data }, 'notification sent');
      },
    }),

    // A fake model run costing 3,000 tokens, against 10,000 tokens an hour. Each run reserves
    // 3,000 before it starts, so three start together; the fourth spends the budget and the route
    // pauses with the rest still queued until the hour ends or `agentd resume summarize`.
    on('demo.summarize', {
      name: 'summarize',
      budget: { tokens: 10_000, window: 'hour', reserve: { tokens: 3_000 } },
      handler: async (event, ctx) => {
        await sleep(SUMMARY_MS, undefined, { signal: ctx.signal });
        ctx.log.info(`summarized ${JSON.stringify(event.data)} for 3000 tokens`);
        // The governor books `usage.totalTokens` (and `usage.costUsd`, when set) on the budget.
        return { summary: 'three bullet points', usage: SUMMARY_USAGE };
      },
    }),

    // The governor's own announcements, as an operator would page on them.
    on<BudgetThreshold>('agentd.budget.threshold', {
      name: 'budget-alert',
      handler: (event, ctx) => {
        const b = event.data;
        if (b === undefined) return;
        ctx.log.warn(
          `budget alert: ${b.scope} at ${Math.round(b.fraction * 100)}% (${b.used}/${b.limit} ${b.unit} this ${b.window})`,
        );
      },
    }),
    on(['agentd.route.paused', 'agentd.route.resumed', 'agentd.loop.detected'], {
      name: 'governor-log',
      handler: (event, ctx) => {
        ctx.log.warn({ data: event.data }, `governor: ${event.type}`);
      },
    }),

    // A handler that re-triggers itself: the loop guard dead-letters the fifth run's event
    // (`loop-guard: route echo re-triggered 4 times ...`) and publishes agentd.loop.detected.
    on<{ n?: number }>('demo.echo', {
      name: 'echo',
      handler: (event, ctx) => {
        const n = event.data?.n ?? 1;
        ctx.log.info(`echo ${n}`);
        ctx.emit({ type: 'demo.echo', data: { n: n + 1 } });
      },
    }),
  ],
});
