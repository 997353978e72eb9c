// `agentd start --workers N`: N worker processes of this same CLI (`start --worker-process`), each
// with its own NATS connection, restarted when one dies, stopped with the daemon.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../observe/log.js';

export interface WorkerProcesses {
  /** Sends SIGTERM to every worker and waits for them to drain and exit. */
  stop(): Promise<void>;
}

const RESTART_DELAY_MS = 1_000;

export function spawnWorkerProcesses(
  count: number,
  args: { config: string | undefined; dataDir: string },
  log: Logger,
): WorkerProcesses {
  const children = new Set<ChildProcess>();
  let stopping = false;
  const argv = [
    // Keeps a loader such as tsx when the CLI itself runs under one.
    ...process.execArgv,
    process.argv[1]!,
    'start',
    '--worker-process',
    '--data-dir',
    args.dataDir,
    ...(args.config === undefined ? [] : ['--config', args.config]),
  ];
  const launch = (index: number) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
    children.add(child);
    log.info({ worker: index, pid: child.pid }, 'worker process started');
    child.once('exit', (code, signal) => {
      children.delete(child);
      if (stopping) return;
      log.error(
        { worker: index, pid: child.pid, code, signal },
        `worker process exited; starting another in ${RESTART_DELAY_MS} ms (its runs go to the others meanwhile)`,
      );
      setTimeout(() => {
        if (!stopping) launch(index);
      }, RESTART_DELAY_MS).unref();
    });
  };
  for (let i = 1; i <= count; i++) launch(i);
  return {
    async stop() {
      stopping = true;
      await Promise.all(
        [...children].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
