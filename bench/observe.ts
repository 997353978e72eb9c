// `npm run bench:observe`: what observability costs. The same SqliteBus + worker workload (no-op
// handlers, the worst case: nothing hides the bookkeeping) runs with nothing observed, with
// metrics, and with metrics plus tracing (10% sampled, and every span exported over OTLP/HTTP to a
// collector stand-in on loopback, in protobuf and in JSON). Each mode runs as a daemon does, one
// bus and worker started once; runs of each mode are interleaved, and the medians of each round's
// ratio to "off" are printed with their spread. Many short rounds (40 x 5,000 events) rather than
// a few long ones: a round's modes then run within a second or two of each other, and this VM's
// speed drifts over seconds (the same work takes from 70 to 120 µs of CPU per event). The main
// thread's CPU time (Linux) is printed beside throughput: it is what bounds throughput, and GC
// and compiler threads do not blur it. More modes take the cost apart (`--modes all`): spans
// dropped in memory, and encoded as OTLP but not sent. `--modes off,metrics` runs some modes only
// (a whole name picks that mode, a part of one each mode it is in).
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
import Table from 'cli-table3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { SqliteBus } from '../src/bus/sqlite/sqlite-bus.js';
import type { ResolvedRoute } from '../src/core/config.js';
import { toEvent, type AgentdEvent } from '../src/core/envelope.js';
import { on } from '../src/core/route.js';
import { LiveFeed } from '../src/observe/live-feed.js';
import { createLogger } from '../src/observe/log.js';
import { AgentdMetrics } from '../src/observe/metrics.js';
import { DaemonObserver, type RunObserver } from '../src/observe/run-observer.js';
import type { OtlpProtocol } from '../src/observe/otlp-body.js';
import { OtlpHttpSender } from '../src/observe/otlp-http-sender.js';
import { Tracing } from '../src/observe/tracing.js';
import { createWorker, type Worker } from '../src/runtime/worker.js';

const { values: args } = parseArgs({
  options: {
    events: { type: 'string', default: process.env.BENCH_EVENTS ?? '5000' },
    runs: { type: 'string', default: process.env.BENCH_RUNS ?? '40' },
    batch: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '50' },
    // Comma-separated names of the modes to run (or parts of names; 'all' runs every mode).
    modes: { type: 'string' },
    // Where the OTLP sink runs: 'process' (its own, like a real collector) or 'inline' (here).
    sink: { type: 'string', default: 'process' },
  },
});
if (args.sink !== 'process' && args.sink !== 'inline')
  throw new Error(`--sink must be process or inline, got ${args.sink}`);
const EVENTS = Number(args.events);
const RUNS = Number(args.runs);
const BATCH = Number(args.batch);
const CONCURRENCY = Number(args.concurrency);
const TYPE = 'bench.observe';
const log = createLogger({ level: 'silent' });

/** Takes each OTLP body and drops it: the cost of encoding spans, without sending them. */
class DiscardSender extends OtlpHttpSender {
  override post(): Promise<void> {
    return Promise.resolve();
  }
}

/** Counts spans and drops them: the SDK's cost without any export. */
class DiscardExporter implements SpanExporter {
  spans = 0;
  export(spans: ReadableSpan[], done: Parameters<SpanExporter['export']>[1]): void {
    this.spans += spans.length;
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
}

/** What a mode observes with, made once and kept across its runs, as a daemon keeps it. */
interface Observing {
  observer?: RunObserver;
  /** Sends what the run left (after its time is taken: no run pays for the last one's spans). */
  flush?(): Promise<void>;
  close(): Promise<void>;
}

interface Mode {
  name: string;
  /** Run only when asked for: it takes the cost apart rather than being a way to run agentd. */
  diagnostic?: boolean;
  /** `worker` is the worker of the run going on (the metrics read its counters). */
  setup(worker: () => Worker): Observing;
}

/**
 * A mode running as a daemon runs: one bus and one worker, started once and fed run after run. (A
 * worker made per run threw away the optimized code of the run path each time, and a traced run,
 * with more code to compile again, paid more for it than an untraced one.)
 */
interface RunningMode {
  mode: Mode;
  observing: Observing;
  bus: SqliteBus;
  worker: Worker;
  /** Events its handler has seen. */
  handled(): number;
  /** Deliveries acked on its bus. */
  acked(): number;
  /** Called after each commit of its bus. */
  onCommit: (() => void) | undefined;
  dir: string;
}

interface OtlpSink {
  url: string;
  /** Stops the sink; resolves with the bytes it received. */
  close(): Promise<number>;
}

// The collector stand-in: answers every export with 200 and counts the bytes.
const SINK_SOURCE = `
let bytes = 0;
const server = require('node:http').createServer((req, res) => {
  req.on('data', (chunk) => (bytes += chunk.length));
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
});
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.on('message', () => process.send(bytes, () => process.exit(0)));
`;

/**
 * A collector on loopback. By default in a process of its own, as a real collector is: receiving
 * is its work, not agentd's (`--sink inline` runs it in this process, counting it against agentd).
 */
async function otlpSink(inline: boolean): Promise<OtlpSink> {
  if (inline) {
    let bytes = 0;
    const server = createServer((req, res) => {
      req.on('data', (chunk: Buffer) => (bytes += chunk.length));
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}/v1/traces`,
      close: () => new Promise((resolve) => server.close(() => resolve(bytes))),
    };
  }
  const child = spawn(process.execPath, ['-e', SINK_SOURCE], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const port = await new Promise<string>((resolve, reject) => {
    child.once('error', reject);
    child.stdout?.once('data', (line: Buffer) => resolve(line.toString().trim()));
  });
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    close: () =>
      new Promise((resolve) => {
        child.once('message', (bytes) => resolve(Number(bytes)));
        child.send('done');
      }),
  };
}

function metricsFor(worker: () => Worker): AgentdMetrics {
  return new AgentdMetrics({ routeCounters: () => worker().stats() });
}

/** Metrics and tracing through `tracing`, made per run; closing it exports what is left. */
function traced(name: string, tracing: () => Tracing, diagnostic = false): Mode {
  return {
    name,
    diagnostic,
    setup: (worker) => {
      const made = tracing();
      return {
        observer: new DaemonObserver({
          metrics: metricsFor(worker),
          tracing: made,
          live: new LiveFeed(),
        }),
        flush: () => made.flush(),
        close: () => made.shutdown(),
      };
    },
  };
}

function modes(sinkUrl: string): Mode[] {
  return [
    { name: 'off', setup: () => ({ close: async () => {} }) },
    {
      name: 'metrics',
      setup: (worker) => ({
        observer: new DaemonObserver({ metrics: metricsFor(worker), live: new LiveFeed() }),
        close: async () => {},
      }),
    },
    traced(
      'metrics + tracing (in memory)',
      () => new Tracing({ exporter: new DiscardExporter() }),
      true,
    ),
    traced('metrics + tracing sampled 10% (OTLP/HTTP protobuf)', () =>
      Tracing.otlp({ url: sinkUrl, sampleRatio: 0.1 }),
    ),
    ...(['protobuf', 'json'] as const).flatMap((encoding) => {
      const protocol: OtlpProtocol = `http/${encoding}`;
      return [
        // What the OTLP mode costs before a byte goes to the collector.
        traced(
          `metrics + tracing (OTLP ${encoding} encoded, not sent)`,
          () => new Tracing({ exporter: new DiscardSender({ url: sinkUrl, protocol }) }),
          true,
        ),
        traced(`metrics + tracing (OTLP/HTTP ${encoding})`, () =>
          Tracing.otlp({ url: sinkUrl, protocol }),
        ),
      ];
    }),
  ];
}

interface Sample {
  rate: number;
  /** This process's CPU time per event, all threads (GC and compiler helpers too). */
  cpuUsPerEvent: number;
  /** The kernel's share of it (loopback TCP to the collector is charged to the sender). */
  systemUsPerEvent: number;
  /** The main thread's CPU time per event (Linux; else 0): the thread throughput is bound by. */
  mainUsPerEvent: number;
}

/** The main thread's time on a CPU so far, in ns (Linux schedstat; 0 elsewhere). */
function mainThreadNs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}

async function startMode(mode: Mode): Promise<RunningMode> {
  const dir = mkdtempSync(join(tmpdir(), 'agentd-bench-observe-'));
  const bus = new SqliteBus({ path: join(dir, 'agentd.db') });
  let handled = 0;
  const route: ResolvedRoute = {
    ...on(TYPE, { handler: () => void handled++, concurrency: CONCURRENCY }),
    name: 'bench',
  };
  // The metrics read the worker's counters, and the worker takes the observer: a late binding.
  const late: { worker?: Worker } = {};
  const observing = mode.setup(() => late.worker as Worker);
  const worker = createWorker({
    bus,
    routes: [route],
    log,
    source: 'bench',
    concurrency: CONCURRENCY,
    ...(observing.observer === undefined ? {} : { observer: observing.observer }),
  });
  late.worker = worker;
  await worker.start();
  const acked = bus.db
    .prepare<[], number>(`SELECT count(*) FROM deliveries WHERE state = 'acked'`)
    .pluck();
  const running: RunningMode = {
    mode,
    observing,
    bus,
    worker,
    handled: () => handled,
    acked: () => acked.get() ?? 0,
    onCommit: undefined,
    dir,
  };
  bus.commit.onCommit(() => running.onCommit?.());
  return running;
}

async function stopMode(running: RunningMode): Promise<void> {
  await running.worker.stop();
  await running.observing.close();
  await running.bus.close();
  rmSync(running.dir, { recursive: true, force: true });
}

/** One run: `events` published to the mode's bus and handled, from first publish to last ack. */
async function throughput(running: RunningMode, events: AgentdEvent[]): Promise<Sample> {
  const handledTarget = running.handled() + events.length;
  const ackedTarget = running.acked() + events.length;
  const finished = new Promise<number>((resolve) => {
    running.onCommit = () => {
      if (running.handled() >= handledTarget && running.acked() === ackedTarget) {
        running.onCommit = undefined;
        resolve(performance.now());
      }
    };
  });
  const started = performance.now();
  const cpu = process.cpuUsage();
  const mainBefore = mainThreadNs();
  for (let i = 0; i < events.length; i += BATCH)
    await running.bus.publish(events.slice(i, i + BATCH));
  const ended = await finished;
  const used = process.cpuUsage(cpu);
  const mainNs = mainThreadNs() - mainBefore;
  // What the run's spans left is sent now, outside its time: no run pays for the one before.
  await running.observing.flush?.();
  return {
    rate: (events.length / (ended - started)) * 1_000,
    cpuUsPerEvent: (used.user + used.system) / events.length,
    systemUsPerEvent: used.system / events.length,
    mainUsPerEvent: mainNs / 1_000 / events.length,
  };
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] as number;
}

function median(values: number[]): number {
  return quantile(values, 0.5);
}

async function main(): Promise<void> {
  const sink = await otlpSink(args.sink === 'inline');
  const wanted = args.modes?.split(',').map((m) => m.trim());
  const every = modes(sink.url);
  // A whole name picks that mode only ('metrics' is part of every name); a part picks each it is in.
  const whole = (w: string) => every.some((m) => m.name === w);
  const all = every.filter((m) =>
    wanted === undefined
      ? m.diagnostic !== true
      : wanted.some((w) => w === 'all' || m.name === w || (!whole(w) && m.name.includes(w))),
  );
  if (all.length === 0) throw new Error(`--modes ${args.modes} names none of the modes`);
  const results = new Map<string, Sample[]>(all.map((m) => [m.name, []]));
  const running: RunningMode[] = [];
  for (const mode of all) running.push(await startMode(mode));
  process.stdout.write(
    `${EVENTS} no-op events per run, ${RUNS} runs per mode (interleaved), concurrency ${CONCURRENCY}\n`,
  );
  // A warm-up run of each mode, so that none pays for compiling its code in the first round.
  for (const mode of running) await throughput(mode, makeEvents(Math.min(EVENTS, 10_000)));
  for (let run = 0; run < RUNS; run++) {
    // Each round starts with another mode: none always runs right after the same one.
    const at = run % running.length;
    for (const mode of [...running.slice(at), ...running.slice(0, at)]) {
      const sample = await throughput(mode, makeEvents(EVENTS));
      results.get(mode.mode.name)?.push(sample);
      process.stdout.write(
        `  run ${run + 1} ${mode.mode.name}: ${Math.round(sample.rate)} events/s, ${sample.cpuUsPerEvent.toFixed(1)} µs CPU/event (${sample.systemUsPerEvent.toFixed(1)} system), main thread ${sample.mainUsPerEvent.toFixed(1)} µs\n`,
      );
    }
  }
  for (const mode of running) await stopMode(mode);
  const received = await sink.close();
  const samples = (name: string) => results.get(name) ?? [];
  // Each round ran every mode back to back: the ratio within a round cancels most of what other
  // processes did to the machine meanwhile, and the median of those ratios drops the outliers.
  const ratios = (name: string, of: (s: Sample) => number, baseline = 'off'): number[] => {
    const base = samples(baseline);
    if (base.length === 0) return [];
    return samples(name).map((s, i) => of(s) / of(base[i] as Sample));
  };
  const pairedRatio = (name: string, of: (s: Sample) => number, baseline = 'off'): string => {
    const each = ratios(name, of, baseline);
    return each.length === 0 ? '—' : median(each).toFixed(3);
  };
  // The middle half of the rounds' ratios: how far one round's machine noise moves a ratio.
  const spread = (name: string, of: (s: Sample) => number): string => {
    const each = ratios(name, of);
    if (each.length === 0 || name === 'off') return '';
    return `${quantile(each, 0.25).toFixed(2)}–${quantile(each, 0.75).toFixed(2)}`;
  };
  const mainThreadMeasured = [...results.values()].every((each) =>
    each.every((s) => s.mainUsPerEvent > 0),
  );
  const table = new Table({
    head: [
      'mode',
      'events/s (median)',
      'throughput vs off',
      '(middle half)',
      'CPU µs/event (median)',
      'CPU vs off',
      'main thread CPU vs off',
    ],
  });
  for (const mode of all) {
    table.push([
      mode.name,
      Math.round(median(samples(mode.name).map((s) => s.rate))).toLocaleString('en'),
      pairedRatio(mode.name, (s) => s.rate),
      spread(mode.name, (s) => s.rate),
      median(samples(mode.name).map((s) => s.cpuUsPerEvent)).toFixed(1),
      pairedRatio(mode.name, (s) => s.cpuUsPerEvent),
      mainThreadMeasured ? pairedRatio(mode.name, (s) => s.mainUsPerEvent) : '—',
    ]);
  }
  process.stdout.write(
    `${table.toString()}\nOTLP sink (${args.sink === 'inline' ? 'in this process' : 'a process of its own'}) received ${received} bytes\n`,
  );
  // Both encodings of the same step, round by round: what protobuf saves over JSON.
  for (const step of ['OTLP %s encoded, not sent', 'OTLP/HTTP %s']) {
    const [json, proto] = ['json', 'protobuf'].map(
      (encoding) => `metrics + tracing (${step.replace('%s', encoding)})`,
    ) as [string, string];
    if (!results.has(json) || !results.has(proto)) continue;
    process.stdout.write(
      `protobuf vs JSON (${step.replace(' %s', '')}): CPU ${pairedRatio(proto, (s) => s.cpuUsPerEvent, json)}, throughput ${pairedRatio(proto, (s) => s.rate, json)}\n`,
    );
  }
  process.stdout.write(
    'ratios: median over rounds of each round\'s ratio to "off"; target: at most 10% cost with metrics and tracing on\n',
  );
}

function makeEvents(count: number): AgentdEvent[] {
  return Array.from({ length: count }, () =>
    toEvent({ type: TYPE }, { source: 'bench', trust: 'internal' }),
  );
}

await main();
