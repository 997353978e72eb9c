// The outbox and waits on SqliteBus at the contract level: actions recorded with the ack only,
// keys deduplicated, a run's actions claimed in order and settled only by their claim, parked
// deliveries woken by a matching event or their deadline, older databases upgraded in place.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Delivery, SubscriptionOptions, WaitOutcome } from '../../src/bus/bus.js';
import type { RecordedAction, StoredAction } from '../../src/bus/outbox-store.js';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { toEvent, type AgentdEvent } from '../../src/core/envelope.js';

const dirs: string[] = [];
const buses: SqliteBus[] = [];

function openBus(dir = mkdtempSync(join(tmpdir(), 'agentd-sqlite-outbox-'))): SqliteBus {
  if (!dirs.includes(dir)) dirs.push(dir);
  const bus = new SqliteBus({ path: join(dir, 'agentd.db'), sweepIntervalMs: 10 });
  buses.push(bus);
  return bus;
}

afterEach(async () => {
  for (const bus of buses.splice(0)) await bus.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const opts = (types: string[]): SubscriptionOptions => ({
  types,
  maxAttempts: 3,
  backoff: { initialMs: 10, maxMs: 20, factor: 2 },
  leaseMs: 5_000,
  ordering: 'key',
});

function event(type: string, extra: Record<string, unknown> = {}): AgentdEvent {
  return toEvent({ type, ...extra }, { source: 'test', trust: 'operator' });
}

function action(key: string, runId: string, extra: Partial<RecordedAction> = {}): RecordedAction {
  return {
    key,
    sink: 'bus',
    action: 'publish',
    params: { type: 'x.y', id: key },
    position: `outbox#${key}`,
    route: 'r',
    runId,
    mode: 'send',
    cause: {
      id: 'e',
      source: 'test',
      type: 'a.b',
      correlationid: 'c',
      depth: 0,
      trust: 'operator',
    },
    ...extra,
  };
}

async function pull(bus: SqliteBus, name: string, types: string[]): Promise<Delivery> {
  const sub = await bus.subscribe(name, opts(types));
  const [delivery] = await sub.pull({ max: 1, waitMs: 1_000 });
  if (delivery === undefined) throw new Error(`nothing for ${name}`);
  return delivery;
}

const claimAll = (bus: SqliteBus): Promise<StoredAction[]> =>
  bus.outbox.claim({ max: 100, now: Date.now(), leaseMs: 60_000, pick: () => true });

describe('recording actions', () => {
  it('records actions with an ack, never with a nack or a dead letter', async () => {
    const bus = openBus();
    await bus.subscribe('r', opts(['a.*']));
    await bus.publish([event('a.one'), event('a.two'), event('a.three')]);
    const sub = await bus.subscribe('r', opts(['a.*']));
    const [one, two, three] = await sub.pull({ max: 3, waitMs: 1_000 });
    await one?.nack({ error: 'no' });
    await two?.deadLetter('never');
    await three?.ack({ actions: [action('k3', 'run3')] });
    expect((await bus.outbox.list()).map((a) => a.key)).toEqual(['k3']);
  });

  it('drops an idempotency key recorded a second time', async () => {
    const bus = openBus();
    await bus.subscribe('r', opts(['a.*']));
    await bus.publish([event('a.one'), event('a.two')]);
    const sub = await bus.subscribe('r', opts(['a.*']));
    const [one, two] = await sub.pull({ max: 2, waitMs: 1_000 });
    await one?.ack({ actions: [action('same', 'run1'), action('other', 'run1')] });
    await two?.ack({ actions: [action('same', 'run2', { params: { changed: true } })] });
    const list = await bus.outbox.list();
    expect(list).toHaveLength(2);
    expect(list.find((a) => a.key === 'same')?.runId).toBe('run1');
  });
});

describe('claiming and settling actions', () => {
  it('claims only the oldest open action of a run, the next once it is done', async () => {
    const bus = openBus();
    await bus.subscribe('r', opts(['a.b']));
    await bus.publish([event('a.b')]);
    const d = await pull(bus, 'r', ['a.b']);
    await d.ack({
      actions: [action('first', 'run'), action('second', 'run'), action('solo', 'run2')],
    });
    const claimed = await claimAll(bus);
    expect(claimed.map((a) => a.key)).toEqual(['first', 'solo']);
    expect(await claimAll(bus)).toEqual([]);
    await bus.outbox.complete(claimed[0] as StoredAction, { ok: true }, []);
    expect((await claimAll(bus)).map((a) => a.key)).toEqual(['second']);
  });

  it('settles an action only from the claim that holds it', async () => {
    const bus = openBus();
    await bus.subscribe('r', opts(['a.b']));
    await bus.publish([event('a.b')]);
    await (await pull(bus, 'r', ['a.b'])).ack({ actions: [action('k', 'run')] });
    const [claimed] = await claimAll(bus);
    const stale = { ...(claimed as StoredAction), attempt: 0 };
    await bus.outbox.complete(stale, { stale: true }, []);
    expect((await bus.outbox.show(claimed?.id ?? ''))?.state).toBe('sending');
    await bus.outbox.retry(claimed as StoredAction, Date.now(), {
      attempt: 1,
      at: new Date().toISOString(),
      error: 'boom',
      status: 502,
    });
    const [again] = await claimAll(bus);
    expect(again).toMatchObject({ attempt: 2, errors: [{ status: 502 }] });
    // A dispatcher that died mid-send: the send is due again, its history says it may have gone.
    const recovered = await bus.outbox.recover(Date.now());
    expect(recovered.map((a) => a.state)).toEqual(['pending']);
    expect(recovered[0]?.errors.at(-1)?.error).toMatch(/recovered at start/);
  });
});

describe('parked deliveries (ctx.waitForEvent)', () => {
  async function parked(bus: SqliteBus, match?: Record<string, unknown>, deadline?: number) {
    await bus.subscribe('w', opts(['job.start']));
    await bus.publish([event('job.start', { partitionkey: 'k' })]);
    const delivery = await pull(bus, 'w', ['job.start']);
    await delivery.park!({
      step: 'wait:job.done',
      type: 'job.done',
      ...(match === undefined ? {} : { match }),
      ...(deadline === undefined ? {} : { deadline }),
    });
    return delivery;
  }

  it('holds no lease and is not claimable until a matching event is published', async () => {
    const bus = openBus();
    const delivery = await parked(bus, { data: { job: 1 } });
    const sub = await bus.subscribe('w', opts(['job.start']));
    expect(await sub.pull({ max: 1, waitMs: 100 })).toEqual([]);
    await bus.publish([event('job.done', { data: { job: 2 } })]);
    expect(await sub.pull({ max: 1, waitMs: 100 })).toEqual([]);
    const done = event('job.done', { data: { job: 1, ok: true } });
    await bus.publish([done]);
    const [resumed] = await sub.pull({ max: 1, waitMs: 1_000 });
    expect(resumed?.deliveryId).toBe(delivery.deliveryId);
    // Not an attempt: the resumed run is attempt 1 again.
    expect(resumed?.attempt).toBe(1);
    const steps = await resumed!.loadSteps();
    expect((steps.get('wait:job.done') as WaitOutcome & { event: AgentdEvent }).event.id).toBe(
      done.id,
    );
  });

  it('keeps its partition key while parked', async () => {
    const bus = openBus();
    await parked(bus);
    await bus.publish([event('job.start', { partitionkey: 'k' })]);
    const sub = await bus.subscribe('w', opts(['job.start']));
    expect(await sub.pull({ max: 1, waitMs: 100 })).toEqual([]);
  });

  it('resumes with a timeout once the deadline passes', async () => {
    const bus = openBus();
    await parked(bus, undefined, Date.now() + 100);
    const sub = await bus.subscribe('w', opts(['job.start']));
    const [resumed] = await sub.pull({ max: 1, waitMs: 3_000 });
    const outcome = (await resumed!.loadSteps()).get('wait:job.done');
    expect(outcome).toMatchObject({ timedOut: true });
  });

  it('survives closing and reopening the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-sqlite-outbox-'));
    const first = openBus(dir);
    await parked(first);
    await first.close();
    const second = openBus(dir);
    await second.publish([event('job.done')]);
    const sub = await second.subscribe('w', opts(['job.start']));
    expect(await sub.pull({ max: 1, waitMs: 1_000 })).toHaveLength(1);
  });
});

describe('an existing database', () => {
  it('gets the outbox and waits tables when it is opened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-sqlite-outbox-'));
    const bus = openBus(dir);
    await bus.close();
    // As written by an agentd from before the outbox.
    const db = new Database(join(dir, 'agentd.db'));
    db.exec('DROP TABLE outbox; DROP TABLE waits;');
    db.close();
    const reopened = openBus(dir);
    await reopened.subscribe('r', opts(['a.b']));
    await reopened.publish([event('a.b')]);
    await (await pull(reopened, 'r', ['a.b'])).ack({ actions: [action('k', 'run')] });
    expect(await reopened.outbox.list()).toHaveLength(1);
  });
});
