// Real payloads: every example GitHub publishes for the events agentd maps (the
// @octokit/webhooks-examples collection) keeps agentd's contract for its type, and GitHub events
// agentd has no contract for still pass the ingest gate.
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { ContractGate } from '../../src/contracts/contract-gate.js';
import { registryFor } from '../../src/contracts/config-contracts.js';
import { describeIssues, isRefusal } from '../../src/core/ingest-gate.js';
import { githubEvent, githubEventType } from '../../src/sources/webhook/github/github-event.js';

// GitHub's example payloads, as the package ships them (a JSON main).
const webhooks = createRequire(import.meta.url)(
  '@octokit/webhooks-examples',
) as WebhookDefinition[];

const registry = registryFor({});
const gate = new ContractGate(registry);

interface Example {
  event: string;
  payload: Record<string, unknown>;
}

const examples: Example[] = webhooks.flatMap((definition) =>
  definition.examples.map((payload) => ({
    event: definition.name,
    payload: payload as unknown as Record<string, unknown>,
  })),
);

describe('GitHub example payloads', () => {
  it('keep the contract of their type, for every event agentd has a contract for', () => {
    const failures: string[] = [];
    const checked = new Set<string>();
    for (const { event, payload } of examples) {
      const type = registry.forType(githubEventType(event, payload));
      if (type === undefined) continue;
      checked.add(type.name);
      const result = type.versions[0]!.schema.safeParse(payload);
      if (!result.success)
        failures.push(
          `${type.name}: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
        );
    }
    expect(failures).toEqual([]);
    // The collection covers the events handlers use most; each must have been checked.
    for (const name of [
      'github.pull_request.opened',
      'github.pull_request.closed',
      'github.pull_request.synchronize',
      'github.push',
      'github.issues.opened',
      'github.issue_comment.created',
      'github.check_run.completed',
      'github.check_suite.completed',
      'github.workflow_run.completed',
      'github.workflow_job.completed',
      'github.pull_request_review.submitted',
      'github.pull_request_review_comment.created',
      'github.release.published',
      'github.create',
      'github.delete',
      'github.status',
      'github.discussion.created',
      'github.ping',
    ])
      expect(checked, name).toContain(name);
    expect(checked.size).toBeGreaterThan(60);
  });

  it('pass the ingest gate as the github source publishes them, contract or not', () => {
    let admitted = 0;
    for (const [index, { event, payload }] of examples.entries()) {
      const published = githubEvent({ sourceName: 'gh', event, deliveryId: `d-${index}`, payload });
      const verdict = gate.admit(published);
      if (isRefusal(verdict))
        throw new Error(`${published.type} refused: ${describeIssues(verdict.issues)}`);
      admitted++;
    }
    expect(admitted).toBe(examples.length);
  });

  it('quarantine a payload missing a field agentd relies on, naming the field', () => {
    const example = examples.find(
      (e) => e.event === 'pull_request' && e.payload.action === 'opened',
    )!;
    const { full_name, ...repository } = example.payload.repository as Record<string, unknown>;
    void full_name;
    const broken = githubEvent({
      sourceName: 'gh',
      event: 'pull_request',
      deliveryId: 'broken',
      payload: { ...example.payload, repository },
    });
    const verdict = gate.admit(broken);
    expect(isRefusal(verdict) && verdict.issues).toEqual([
      expect.objectContaining({ path: 'repository.full_name', got: 'nothing' }),
    ]);
  });
});
