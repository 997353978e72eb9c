// agentd start: the daemon. Stops gracefully on SIGINT/SIGTERM (a second signal exits at once).
import { Option, type Command } from 'commander';
import { startDaemon } from '../../app.js';
import { startWorkerProcess } from '../../app-worker.js';
import { createLogger } from '../../observe/log.js';
import { clientToken } from '../../runtime/admin-token.js';
import { locateStore, parsePositiveInt, UsageError, type StoreOptions } from '../cli-support.js';
import { spawnWorkerProcesses } from '../worker-processes.js';

interface StartOptions extends StoreOptions {
  port?: string;
  workers?: string;
  workerProcess?: boolean;
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('run the daemon: HTTP API, routes and worker on the embedded store')
    .option('-c, --config <file>', 'config file (default: ./agentd.config.ts, .mts, .js or .mjs)')
    .option('-d, --data-dir <dir>', 'store directory (default: the config dataDir or ./.agentd)')
    .option(
      '-p, --port <port>',
      'HTTP port (default: config server.port or 7700; 0 picks a free one)',
    )
    .option(
      '-w, --workers <n>',
      'worker processes on this machine (needs bus.kind "nats"; default 1, in this process)',
    )
    .addOption(new Option('--worker-process', 'run routes only: one of --workers').hideHelp())
    .action(async (opts: StartOptions) => {
      const store = await locateStore(opts);
      const { config } = store.loaded;
      const workers = opts.workers === undefined ? 1 : parsePositiveInt(opts.workers, '--workers');
      if ((workers > 1 || opts.workerProcess === true) && config.bus?.kind !== 'nats')
        throw new UsageError(
          '--workers needs bus: { kind: "nats", servers: ... } in the config: the embedded SQLite ' +
            'store has one writer, so one process runs every route (raise worker.concurrency instead)',
        );
      const log = createLogger({
        ...(config.log?.level === undefined ? {} : { level: config.log.level }),
        ...(config.log?.pretty === undefined ? {} : { pretty: config.log.pretty }),
      });
      const port =
        opts.port === undefined
          ? undefined
          : opts.port === '0'
            ? 0
            : parsePositiveInt(opts.port, '--port');
      log.info(
        { config: store.loaded.file ?? '(none: defaults)', dataDir: store.dataDir },
        'starting agentd',
      );
      const daemon =
        opts.workerProcess === true
          ? await startWorkerProcess({ config, dataDir: store.dataDir, log })
          : await startDaemon({
              config,
              dataDir: store.dataDir,
              baseDir: store.loaded.baseDir,
              log,
              ...(port === undefined ? {} : { port }),
              ...(workers > 1 ? { runWorker: false } : {}),
            });
      // A sign-in link for a person at a terminal only: the token never goes into the log stream.
      if (daemon.url !== undefined && process.stderr.isTTY) {
        const token = clientToken(config.server?.token, store.dataDir);
        process.stderr.write(
          `dashboard: ${daemon.url}/ui/${token === undefined ? '' : `#token=${encodeURIComponent(token)}`}\n`,
        );
      }
      const processes =
        workers > 1 && opts.workerProcess !== true
          ? spawnWorkerProcesses(
              workers,
              { config: store.loaded.file, dataDir: store.dataDir },
              log,
            )
          : undefined;
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          signals++;
          if (signals > 1) {
            log.warn('second signal: exiting without waiting');
            process.exit(130);
          }
          log.info({ signal }, 'stopping: no new runs; waiting for runs in flight');
          Promise.all([processes?.stop(), daemon.stop()]).then(
            () => resolve(),
            (error: unknown) => {
              log.error({ err: error }, 'stopping failed');
              process.exitCode = 1;
              resolve();
            },
          );
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      log.info('agentd stopped');
    });
}
