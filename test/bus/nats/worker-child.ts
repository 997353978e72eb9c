// One worker process for the multi-worker test: runs a keyed route on a NATS bus and appends
// "S|E <key> <n> <pid>" lines (run started, run ended) to a shared log file.
import { appendFileSync } from 'node:fs';
import { startWorkerProcess } from '../../../src/app-worker.js';
import { validateConfig } from '../../../src/core/config.js';
import { on } from '../../../src/core/route.js';
import { createLogger } from '../../../src/observe/log.js';

const [servers, stream, logFile, dataDir] = process.argv.slice(2);
if (servers === undefined || stream === undefined || logFile === undefined || dataDir === undefined)
  throw new Error('usage: worker-child <servers> <stream> <logFile> <dataDir>');

const line = (text: string) => appendFileSync(logFile, `${text}\n`);

const config = validateConfig(
  {
    bus: { kind: 'nats', servers, stream },
    worker: { leaseMs: 1_500, shutdownGraceMs: 1_000 },
    log: { level: 'silent' },
    routes: [
      on<number>('mw.step', {
        name: 'ordered',
        concurrency: 16,
        handler: async (event) => {
          line(`S ${event.partitionkey} ${event.data} ${process.pid}`);
          await new Promise((r) => setTimeout(r, Math.random() * 3));
          line(`E ${event.partitionkey} ${event.data} ${process.pid}`);
        },
      }),
    ],
  },
  'worker-child',
);

const worker = await startWorkerProcess({
  config,
  dataDir,
  log: createLogger({ level: 'silent' }),
});
line(`READY ${process.pid}`);
process.once('SIGTERM', () => {
  void worker.stop().then(() => process.exit(0));
});
