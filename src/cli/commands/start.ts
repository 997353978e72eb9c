// agentd start: the daemon. Stops gracefully on SIGINT/SIGTERM (a second signal exits at once).
import type { Command } from 'commander';
import { startDaemon } from '../../app.js';
import { createLogger } from '../../observe/log.js';
import { locateStore, parsePositiveInt, type StoreOptions } from '../cli-support.js';

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
    .action(async (opts: StoreOptions & { port?: string }) => {
      const store = await locateStore(opts);
      const { config } = store.loaded;
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
      const daemon = await startDaemon({
        config,
        dataDir: store.dataDir,
        log,
        ...(port === undefined ? {} : { port }),
      });
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          signals++;
          if (signals > 1) {
            log.warn('second signal: exiting without waiting');
            process.exit(130);
          }
          log.info({ signal }, 'stopping: no new runs; waiting for runs in flight');
          daemon.stop().then(
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
