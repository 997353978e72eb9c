// daemon.json in the data directory: one daemon per store, and how the CLI finds its HTTP API.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DaemonInfo {
  pid: number;
  url: string;
  startedAt: string;
  node: string;
}

const FILE = 'daemon.json';

/** The running daemon of this data directory, if its process is alive. */
export function readDaemon(dataDir: string): DaemonInfo | undefined {
  let info: DaemonInfo;
  try {
    info = JSON.parse(readFileSync(join(dataDir, FILE), 'utf8')) as DaemonInfo;
  } catch {
    return undefined;
  }
  return typeof info.pid === 'number' && isAlive(info.pid) ? info : undefined;
}

/** Claims the data directory for this process; throws when another live daemon holds it. */
export function claimDataDir(dataDir: string, info: Omit<DaemonInfo, 'pid'>): void {
  const other = readDaemon(dataDir);
  if (other !== undefined && other.pid !== process.pid) {
    throw new Error(
      `another agentd (pid ${other.pid}, ${other.url}) is already running on ${dataDir}; stop it first or use --data-dir`,
    );
  }
  writeDaemon(dataDir, { ...info, pid: process.pid });
}

export function writeDaemon(dataDir: string, info: DaemonInfo): void {
  writeFileSync(join(dataDir, FILE), `${JSON.stringify(info, null, 2)}\n`);
}

export function releaseDataDir(dataDir: string): void {
  const current = readDaemon(dataDir);
  if (current === undefined || current.pid === process.pid)
    rmSync(join(dataDir, FILE), { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
