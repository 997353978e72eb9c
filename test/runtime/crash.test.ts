// Crash test: a real daemon process is kill -9'd mid-run again and again, and durable steps still hold.
import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  readyUrl,
  REPO,
  spawnDaemon,
  type DaemonChild,
  type Exit,
} from '../fixtures/daemon-child.js';

const EVENTS = 5_000;
const KILLS = 5;
const ROUTE = 'crash';
const TYPE = 'crash.work';

const ids = Array.from({ length: EVENTS }, (_, i) => `e-${String(i).padStart(4, '0')}`);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * The daemon's config. Each run sleeps 25-45 ms in all, so 16 runs at a time finish at most
 * 16 / 25 ms = 640 events a second: 5,000 take at least 7.8 s of uptime, more than the 5 x 1.5 s
 * the kills allow, so every kill lands while work remains. The process started after the last
 * kill gets CRASH_PACE=0.1 and finishes the rest ten times faster.
 */
function configSource(first: string, second: string): string {
  const api = pathToFileURL(join(REPO, 'src/index.ts')).href;
  return `import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineConfig, on } from ${JSON.stringify(api)};

const pace = Number(process.env.CRASH_PACE ?? '1');

export default defineConfig({
  log: { level: 'warn' },
  routes: [
    on(${JSON.stringify(TYPE)}, {
      name: ${JSON.stringify(ROUTE)},
      concurrency: 16,
      ordering: 'none',
      handler: async (event, ctx) => {
        await sleep(pace * (5 + Math.random() * 10));
        const nonce = await ctx.step('mint', () => {
          const value = randomBytes(16).toString('hex');
          appendFileSync(${JSON.stringify(first)}, event.id + ' ' + value + '\\n');
          return value;
        });
        await sleep(pace * (20 + Math.random() * 10));
        await ctx.step('record', () => {
          appendFileSync(${JSON.stringify(second)}, event.id + ' ' + nonce + '\\n');
          return true;
        });
      },
    }),
  ],
});
`;
}

const RECORD = /^(e-\d{4}) ([0-9a-f]{32})$/;
const RECORD_AT_END = /(e-\d{4}) ([0-9a-f]{32})$/;

interface Records {
  /** id -> the nonce of each of its lines, in file order. */
  byId: Map<string, string[]>;
  torn: number;
}

/**
 * Reads `id nonce` lines. Torn writes can genuinely happen: Linux may cut a write(2) short when
 * SIGKILL arrives while it crosses a page boundary of the file, so a killed process can leave the
 * head of a line without its newline, and the next process appends right after it. Such a
 * fragment is counted and skipped, and a whole record glued behind one is still read. A process
 * writes one line at a time, so each kill tears at most one line per file.
 */
function readRecords(file: string): Records {
  const byId = new Map<string, string[]>();
  let torn = 0;
  const lines = (existsSync(file) ? readFileSync(file, 'utf8') : '').split('\n');
  if (lines.pop() !== '') torn++;
  for (const line of lines) {
    let match = RECORD.exec(line);
    if (match === null) {
      torn++;
      match = RECORD_AT_END.exec(line);
      if (match === null) continue;
    }
    const [, id, nonce] = match as unknown as [string, string, string];
    byId.set(id, [...(byId.get(id) ?? []), nonce]);
  }
  return { byId, torn };
}

function bump(counts: Map<string, number>, id: string): void {
  counts.set(id, (counts.get(id) ?? 0) + 1);
}

type Incarnation = DaemonChild;

interface Kill {
  /** Runs the killed process held leased: exactly the runs it was in the middle of. */
  inFlight: number;
  /** Of those, runs whose step 1 was stored and step 2 not. */
  betweenSteps: number;
  /** Events finished when it was killed. */
  acked: number;
}

describe('a daemon killed with SIGKILL at random moments and restarted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-crash-'));
  const dataDir = join(dir, 'data');
  const firstFile = join(dir, 'step1.log');
  const secondFile = join(dir, 'step2.log');
  const configFile = join(dir, 'agentd.config.ts');
  const output: string[] = [];
  let current: Incarnation | undefined;
  let store: Database.Database | undefined;

  const kills: Kill[] = [];
  // Per event id, how many kills caught its run before step 1 (or step 2) had stored its result:
  // only those kills may make that step run again.
  const unsavedAtKill = { mint: new Map<string, number>(), record: new Map<string, number>() };
  let finalExit: Exit | undefined;
  let first: Records;
  let second: Records;

  function start(pace = 1): Incarnation {
    const { child, exited } = spawnDaemon({
      configFile,
      dataDir,
      output,
      env: { ...process.env, CRASH_PACE: String(pace) },
    });
    current = { child, exited };
    return current;
  }

  /** Waits until this process has written its URL into daemon.json: its worker is running. */
  const ready = (incarnation: Incarnation) => readyUrl(incarnation.child, { dataDir, output });

  function opened(): Database.Database {
    if (store === undefined) throw new Error('the store was never opened: the crash run failed');
    return store;
  }

  function count(sql: string): number {
    return opened().prepare<[string], { n: number }>(sql).get(ROUTE)?.n ?? 0;
  }

  const acked = () =>
    count(`SELECT count(*) AS n FROM deliveries WHERE sub = ? AND state IN ('acked', 'skipped')`);

  beforeAll(async () => {
    const began = Date.now();
    writeFileSync(configFile, configSource(firstFile, secondFile));
    let daemon = start();
    const url = await ready(daemon);
    const readyz = await fetch(`${url}/readyz`);
    if (readyz.status !== 200) throw new Error(`GET /readyz answered ${readyz.status}`);

    // POST /events needs the admin token the daemon wrote at its first start.
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    // A 202 means the batch is durable in the store.
    for (let i = 0; i < EVENTS; i += 500) {
      const batch = ids.slice(i, i + 500).map((id) => ({ type: TYPE, id, data: { id } }));
      const response = await fetch(`${url}/events`, {
        method: 'POST',
        headers: {
          'content-type': 'application/cloudevents-batch+json',
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify(batch),
      });
      if (response.status !== 202)
        throw new Error(`POST /events answered ${response.status}: ${await response.text()}`);
    }
    const db = new Database(join(dataDir, 'agentd.db'), { timeout: 10_000 });
    store = db;
    const leasedRuns = db.prepare<[string], { id: string; minted: number; recorded: number }>(
      `SELECT e.id,
              EXISTS (SELECT 1 FROM steps s WHERE s.sub = d.sub AND s.seq = d.seq AND s.name = 'mint') AS minted,
              EXISTS (SELECT 1 FROM steps s WHERE s.sub = d.sub AND s.seq = d.seq AND s.name = 'record') AS recorded
         FROM deliveries d JOIN events e ON e.seq = d.seq
        WHERE d.sub = ? AND d.state = 'leased'`,
    );

    for (let k = 0; k < KILLS; k++) {
      await sleep(300 + Math.random() * 1_200);
      daemon.child.kill('SIGKILL');
      await daemon.exited;
      // The process is gone, so what it left leased is exactly what it was running when killed.
      const leased = leasedRuns.all(ROUTE);
      for (const run of leased) {
        if (run.minted === 0) bump(unsavedAtKill.mint, run.id);
        if (run.recorded === 0) bump(unsavedAtKill.record, run.id);
      }
      kills.push({
        inFlight: leased.length,
        betweenSteps: leased.filter((run) => run.minted === 1 && run.recorded === 0).length,
        acked: acked(),
      });
      daemon = start(k === KILLS - 1 ? 0.1 : 1);
      await ready(daemon);
    }

    const deadline = Date.now() + 60_000;
    while (acked() < EVENTS && Date.now() < deadline) await sleep(100);
    daemon.child.kill('SIGTERM');
    finalExit = await daemon.exited;
    first = readRecords(firstFile);
    second = readRecords(secondFile);
    console.info(
      `crash test: ${kills.length} kills in ${Date.now() - began} ms; in flight at each: ` +
        `${kills.map((kill) => kill.inFlight).join(', ')}; between steps: ` +
        `${kills.map((kill) => kill.betweenSteps).join(', ')}; finished before each: ` +
        `${kills.map((kill) => kill.acked).join(', ')}; torn lines: ${first.torn} + ${second.torn}`,
    );
  }, 120_000);

  afterAll(async () => {
    store?.close();
    const child = current?.child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await current?.exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('is killed at least 5 times while runs are in flight and work remains', () => {
    const midFlight = kills.filter((kill) => kill.inFlight > 0 && kill.acked < EVENTS);
    expect(midFlight.length).toBeGreaterThanOrEqual(KILLS);
  });

  it('finishes every event after the kills, none dead-lettered', () => {
    expect(count(`SELECT count(*) AS n FROM deliveries WHERE sub = ? AND state = 'acked'`)).toBe(
      EVENTS,
    );
    expect(count(`SELECT count(*) AS n FROM deliveries WHERE sub = ? AND state = 'dead'`)).toBe(0);
    expect(ids.filter((id) => !second.byId.has(id))).toEqual([]);
  });

  it('stops gracefully on SIGTERM after the last restart, exiting 0', () => {
    expect(finalExit, output.join('')).toEqual({ code: 0, signal: null });
  });

  it('gives step 2 of every event only the one step-1 result that was stored', () => {
    const memo = new Map(
      opened()
        .prepare<[string], { id: string; value: string }>(
          `SELECT e.id, s.value FROM steps s JOIN events e ON e.seq = s.seq
            WHERE s.sub = ? AND s.name = 'mint'`,
        )
        .all(ROUTE)
        .map((row) => [row.id, (JSON.parse(row.value) as { v: string }).v]),
    );
    const disagreeing: string[] = [];
    for (const id of ids) {
      const seen = second.byId.get(id) ?? [];
      const minted = first.byId.get(id) ?? [];
      const nonce = memo.get(id);
      // Step 1 may have run more than once (killed before its result was stored); any of its
      // nonces may have been stored, but step 2 must only ever see the stored one.
      if (nonce === undefined || !minted.includes(nonce) || seen.some((n) => n !== nonce))
        disagreeing.push(
          `${id}: stored ${nonce ?? 'nothing'}, step 1 wrote ${minted.join(',')}, step 2 saw ${seen.join(',')}`,
        );
    }
    expect(disagreeing).toEqual([]);
  });

  it('never runs a step again once its result is stored', () => {
    expect(first.torn + second.torn).toBeLessThanOrEqual(2 * KILLS);
    // An id has more lines in a step's file only if kills caught its run before that step's
    // result was stored: at most one extra line per such kill.
    const reran: string[] = [];
    for (const [step, records] of [
      ['mint', first],
      ['record', second],
    ] as const) {
      for (const [id, nonces] of records.byId) {
        const allowed = 1 + (unsavedAtKill[step].get(id) ?? 0);
        if (nonces.length > allowed)
          reran.push(`${id}: step ${step} ran ${nonces.length} times, at most ${allowed} allowed`);
      }
    }
    expect(reran).toEqual([]);
  });
});
