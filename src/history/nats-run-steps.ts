// A run's steps on NATS, for its page in the admin API: step memos live in the state bucket by
// (route, event), not in the history file, so they are read when a run page is asked for — one
// key listing and one read per step.
import { eventToken, kvKeys, subscriptionToken } from '../bus/nats/names.js';
import type { NatsStore } from '../bus/nats/nats-store.js';
import type { RunDetail, StepRecord } from '../server/admin-types.js';

export async function natsRunSteps(store: NatsStore, run: RunDetail): Promise<StepRecord[]> {
  const filter = kvKeys.steps(subscriptionToken(run.route), eventToken(run.event));
  const keys: string[] = [];
  for await (const key of await store.kv.keys(filter)) keys.push(key);
  const steps: StepRecord[] = [];
  for (const key of keys) {
    const entry = await store.kv.get(key);
    if (entry === null || entry.operation !== 'PUT') continue;
    const stored = entry.json<{ name: string; v?: unknown }>();
    steps.push({ name: stored.name, at: entry.created.toISOString(), value: stored.v });
  }
  // As the embedded store orders them: by time, then `turn-2` before `turn-10`.
  return steps.sort(
    (a, b) => a.at.localeCompare(b.at) || a.name.localeCompare(b.name, 'en', { numeric: true }),
  );
}
