// agentd status with webhook sources: the running daemon's sources and their refused requests,
// read over its HTTP API with the admin token the CLI finds in the data directory.
import { createHmac } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  expectSuccess,
  makeTempDir,
  parseJson,
  runCli,
  setUpCliTests,
  startDaemon,
  type RunningDaemon,
  writeConfig,
} from './run-cli.js';

setUpCliTests();

const SECRET = 'status-sources-secret';
let dir: string;
let daemon: RunningDaemon;
const agentd = (...args: string[]) => runCli([...args, '--data-dir', 'store'], { cwd: dir });

beforeAll(async () => {
  dir = makeTempDir();
  writeConfig(
    dir,
    `export default defineConfig({
  log: { level: 'error' },
  sources: [{ kind: 'github', name: 'gh', secret: ${JSON.stringify(SECRET)} }],
  routes: [on('github.**', { handler: () => undefined })],
});`,
  );
  daemon = await startDaemon(dir, 'store');
});

const deliver = (body: string, secret: string, delivery: string) =>
  fetch(`${daemon.url}/hooks/gh`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': delivery,
      'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
    },
    body,
  });

describe('agentd status with webhook sources', () => {
  it('reports each source with its refused requests by reason', async () => {
    const body = JSON.stringify({ ref: 'refs/heads/main', repository: { full_name: 'a/b' } });
    expect((await deliver(body, SECRET, 'ok-1')).status).toBe(202);
    expect((await deliver(body, 'a guess', 'forged-1')).status).toBe(401);
    const status = parseJson<{ sources: unknown }>(await agentd('status', '--json'));
    expect(status.sources).toEqual([
      { name: 'gh', kind: 'github', path: '/hooks/gh', rejects: { 'bad-signature': 1 } },
    ]);
    const table = await agentd('status');
    expectSuccess(table);
    expect(table.stdout).toMatch(/gh\s+│?\s*github\s+│?\s*\/hooks\/gh\s+│?\s*bad-signature 1/);
  });

  it('emits through the daemon with the admin token read from the data directory', async () => {
    const result = parseJson<{ via: string; duplicate: boolean }>(
      await agentd('emit', 'github.manual', '--json'),
    );
    expect(result).toMatchObject({ via: daemon.url, duplicate: false });
  });
});
