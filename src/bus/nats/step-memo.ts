// Step memos in the state bucket, keyed by (subscription, event, step): KV create() is the
// first-writer-wins rule, so two attempts racing on one event agree on every step's result. Keyed
// by the event's (source, id) rather than its stream sequence, so a DLQ replay resumes its steps.
import { eventToken, kvKeys, stepToken } from './names.js';
import type { NatsStore } from './nats-store.js';

interface StoredStep {
  name: string;
  v?: unknown;
}

export class StepMemo {
  private readonly eventTok: string;

  constructor(
    private readonly store: NatsStore,
    private readonly subToken: string,
    event: { source: string; id: string },
  ) {
    this.eventTok = eventToken(event);
  }

  async load(): Promise<Map<string, unknown>> {
    const steps = new Map<string, unknown>();
    const keys: string[] = [];
    for await (const key of await this.store.kv.keys(kvKeys.steps(this.subToken, this.eventTok)))
      keys.push(key);
    for (const key of keys) {
      const found = await this.store.kvGet<StoredStep>(key);
      if (found !== undefined) steps.set(found.value.name, found.value.v);
    }
    return steps;
  }

  async save(name: string, value: unknown): Promise<unknown> {
    const stored = JSON.parse(JSON.stringify({ name, v: value })) as StoredStep;
    const key = kvKeys.step(this.subToken, this.eventTok, stepToken(name));
    if (await this.store.kvCreate(key, stored)) return stored.v;
    const winner = await this.store.kvGet<StoredStep>(key);
    return winner === undefined ? stored.v : winner.value.v;
  }
}

/** Forgets every step of one event for one subscription (a fresh DLQ replay). */
export async function forgetSteps(
  store: NatsStore,
  subToken: string,
  event: { source: string; id: string },
): Promise<void> {
  await store.kvPurgeFilter(kvKeys.steps(subToken, eventToken(event)));
}
