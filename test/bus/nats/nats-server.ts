// Test support for NATS: is the shared server up, unique namespaces per test, and private servers
// (own port, own store directory) that a fault test may stop and start again.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NATS_URL = process.env.AGENTD_TEST_NATS ?? '127.0.0.1:4222';

export function reachable(address: string, timeoutMs = 1_000): Promise<boolean> {
  const [host, port] = address.replace(/^nats:\/\//, '').split(':');
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port ?? 4222), host ?? '127.0.0.1', () => done(true));
  });
}

/**
 * Whether NATS tests run here. Locally an unreachable server skips them with one clear line; under
 * CI=true it is a failure, since .ci/run starts NATS first.
 */
export async function natsAvailable(): Promise<boolean> {
  if (await reachable(NATS_URL)) return true;
  if (process.env.CI === 'true')
    throw new Error(`NATS is not reachable at ${NATS_URL}, and CI=true: .ci/run should start it`);
  console.warn(`skipped: NATS not reachable at ${NATS_URL}`);
  return false;
}

let counter = 0;
/** A stream name no other test (or run) uses. */
export function uniqueStream(prefix = 'T'): string {
  counter++;
  const random = Math.random().toString(36).slice(2, 8);
  return `${prefix}${process.pid}_${counter}_${random}`.toUpperCase();
}

/** Deletes the streams and buckets of one agentd namespace (`<stream>`, `<stream>_*`, `KV_<stream>_*`). */
export async function dropNamespace(servers: string, stream: string): Promise<void> {
  const nc = await connect({ servers, reconnect: false });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const info of jsm.streams.list()) names.push(info.config.name);
    for (const name of names)
      if (name === stream || name.startsWith(`${stream}_`) || name.startsWith(`KV_${stream}_`))
        await jsm.streams.delete(name).catch(() => false);
  } finally {
    await nc.close();
  }
}

export const NATS_SERVER_BIN = ['/usr/sbin/nats-server', '/usr/bin/nats-server'].find(existsSync);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A nats-server of the test's own, on its own port and store directory. */
export class PrivateNatsServer {
  private child: ChildProcess | undefined;
  readonly storeDir = mkdtempSync(join(tmpdir(), 'agentd-nats-'));

  constructor(readonly port: number) {}

  get url(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (NATS_SERVER_BIN === undefined) throw new Error('nats-server is not installed');
    const child = spawn(
      NATS_SERVER_BIN,
      ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir],
      { stdio: 'ignore' },
    );
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (!(await reachable(this.url, 200))) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error('nats-server did not start within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops exactly the process this object started (SIGTERM: the server flushes its store). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
    this.child = undefined;
  }

  async destroy(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
