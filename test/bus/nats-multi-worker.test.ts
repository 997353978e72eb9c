// Three worker processes share one keyed route on NATS: per-key order holds across them, every
// event is handled, and kill -9 of one worker mid-run loses nothing (its deliveries go elsewhere).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NatsBus } from '../../src/bus/nats/nats-bus.js';
import { event } from './conformance.js';
import { dropNamespace, NATS_URL, natsAvailable, uniqueStream } from './nats/nats-server.js';

const available = await natsAvailable();
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const CHILD = fileURLToPath(new URL('./nats/worker-child.ts', import.meta.url));
const KEYS = 10;
const PER_KEY = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(available)('NatsBus with three worker processes', () => {
  const stream = uniqueStream('MW');
  const dir = mkdtempSync(join(tmpdir(), 'agentd-mw-'));
  const logFile = join(dir, 'runs.log');
  const children: ChildProcess[] = [];
  let bus: NatsBus;

  beforeAll(async () => {
    writeFileSync(logFile, '');
    bus = await NatsBus.connect({ servers: NATS_URL, stream });
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await bus?.close();
    await dropNamespace(NATS_URL, stream);
    rmSync(dir, { recursive: true, force: true });
  });

  const lines = () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean);

  it('keeps per-key order across workers and loses nothing when one is killed with -9', async () => {
    for (let i = 0; i < 3; i++) {
      const child = spawn(
        process.execPath,
        ['--import', TSX, CHILD, NATS_URL, stream, logFile, join(dir, `w${i}`)],
        { stdio: ['ignore', 'ignore', 'inherit'] },
      );
      children.push(child);
    }
    while (lines().filter((l) => l.startsWith('READY')).length < 3) await sleep(50);

    const events = [];
    for (let n = 0; n < PER_KEY; n++)
      for (let k = 0; k < KEYS; k++)
        events.push(event('mw.step', { partitionkey: `k${k}`, data: n }));
    for (let i = 0; i < events.length; i += 200) await bus.publish(events.slice(i, i + 200));

    const ended = () => lines().filter((l) => l.startsWith('E ')).length;
    while (ended() < (KEYS * PER_KEY) / 3) await sleep(20);
    const victim = children[0]!;
    victim.kill('SIGKILL');
    writeFileSync(logFile, `KILL ${victim.pid}\n`, { flag: 'a' });

    const handled = () =>
      new Set(
        lines()
          .filter((l) => l.startsWith('E '))
          .map((l) => l.split(' ').slice(1, 3).join(' ')),
      );
    const deadline = Date.now() + 100_000;
    while (handled().size < KEYS * PER_KEY && Date.now() < deadline) await sleep(100);
    expect(handled().size).toBe(KEYS * PER_KEY);

    // Order: per key, the ends in log order, a redelivered run's repeat folded, are 0..199.
    const ends = new Map<string, number[]>();
    // Overlap: a run of a key started while another live worker's run of it was in flight.
    const inFlight = new Map<string, Set<string>>();
    let killed: string | undefined;
    let overlaps = 0;
    for (const l of lines()) {
      const [tag, key, n, pid] = l.split(' ');
      if (tag === 'KILL') {
        killed = key;
        continue;
      }
      if (tag !== 'S' && tag !== 'E') continue;
      const running = inFlight.get(key!) ?? new Set<string>();
      inFlight.set(key!, running);
      if (tag === 'S') {
        for (const other of running) if (other.split(' ')[1] !== killed) overlaps++;
        running.add(`${n} ${pid}`);
      } else {
        running.delete(`${n} ${pid}`);
        const seen = ends.get(key!) ?? [];
        if (seen.at(-1) !== Number(n)) seen.push(Number(n));
        ends.set(key!, seen);
      }
    }
    expect(overlaps).toBe(0);
    for (let k = 0; k < KEYS; k++)
      expect(ends.get(`k${k}`)).toEqual(Array.from({ length: PER_KEY }, (_, i) => i));
    // The work was spread: the two survivors both ran some of it.
    const pids = new Set(
      lines()
        .filter((l) => l.startsWith('E '))
        .map((l) => l.split(' ')[3]),
    );
    expect(pids.size).toBeGreaterThanOrEqual(2);
  }, 150_000);
});
