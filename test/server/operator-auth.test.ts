// Operator events over a running daemon: the admin token made at first start (mode 0600), POST
// /events refused without it, `server.auth: false` on loopback, and webhooks beside it.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../src/app.js';
import type { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { SqliteInspector } from '../../src/bus/sqlite/inspect-sql.js';
import { validateConfig } from '../../src/core/config.js';
import { createLogger } from '../../src/observe/log.js';
import { readAdminToken } from '../../src/runtime/admin-token.js';
import { fixture, githubHeaders } from '../sources/webhook/webhook-harness.js';

const log = createLogger({ level: 'silent' });
const dirs: string[] = [];
const daemons: Daemon[] = [];

async function start(raw: Record<string, unknown> = {}, dataDir?: string) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'agentd-auth-'));
  if (dataDir === undefined) dirs.push(dir);
  const daemon = await startDaemon({
    config: validateConfig(raw, 'test'),
    dataDir: dir,
    log,
    port: 0,
  });
  daemons.push(daemon);
  return { daemon, dir };
}

const postEvent = (url: string, token?: string) =>
  fetch(`${url}/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: JSON.stringify({ type: 'ops.note', data: { text: 'hello' }, trust: 'internal' }),
  });

const events = (daemon: Daemon) =>
  new SqliteInspector((daemon.bus as SqliteBus).db)
    .events({ limit: 100 })
    .map((row) => row.event)
    .filter((event) => !event.type.startsWith('agentd.'));

afterEach(async () => {
  for (const daemon of daemons.splice(0)) await daemon.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the admin token', () => {
  it('is made at first start with mode 0600 and kept across restarts', async () => {
    const { daemon, dir } = await start();
    const file = join(dir, 'admin-token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = readAdminToken(dir);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await daemon.stop();
    await start({}, dir);
    expect(readAdminToken(dir)).toBe(token);
  });

  it('is required by POST /events, whose events then carry trust operator', async () => {
    const { daemon, dir } = await start();
    expect((await postEvent(daemon.url)).status).toBe(401);
    expect((await postEvent(daemon.url, 'x'.repeat(43))).status).toBe(401);
    const res = await postEvent(daemon.url, readAdminToken(dir));
    expect(res.status).toBe(202);
    expect(events(daemon)).toEqual([
      expect.objectContaining({ type: 'ops.note', trust: 'operator' }),
    ]);
  });

  it('tightens a token file that lost its mode', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-auth-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'admin-token'), 'a-token-someone-restored-from-backup\n', {
      mode: 0o644,
    });
    const { daemon } = await start({}, dir);
    expect(statSync(join(dir, 'admin-token')).mode & 0o777).toBe(0o600);
    expect((await postEvent(daemon.url, 'a-token-someone-restored-from-backup')).status).toBe(202);
  });

  it('is server.token when the config sets one, and no file is written', async () => {
    const { daemon, dir } = await start({ server: { token: 'a-configured-admin-token' } });
    expect(readAdminToken(dir)).toBeUndefined();
    expect((await postEvent(daemon.url)).status).toBe(401);
    expect((await postEvent(daemon.url, 'a-configured-admin-token')).status).toBe(202);
  });

  it('is not needed on loopback with server.auth: false', async () => {
    const { daemon, dir } = await start({ server: { auth: false } });
    expect(readAdminToken(dir)).toBeUndefined();
    expect((await postEvent(daemon.url)).status).toBe(202);
    expect(events(daemon)[0]?.trust).toBe('operator');
  });
});

describe('webhook sources on the daemon', () => {
  it('serves /hooks/<name> without the admin token, with secrets read from the environment', async () => {
    process.env.AGENTD_TEST_GH_SECRET = 'secret-from-the-environment';
    try {
      const { daemon } = await start({
        sources: [{ kind: 'github', secret: { env: 'AGENTD_TEST_GH_SECRET' } }],
      });
      const body = fixture('github/push.json');
      const signed = githubHeaders(body, 'secret-from-the-environment', 'push', 'env-1');
      const ok = await fetch(`${daemon.url}/hooks/github`, {
        method: 'POST',
        headers: signed,
        body,
      });
      expect(ok.status).toBe(202);
      const forged = githubHeaders(body, 'guess', 'push', 'env-2');
      const refused = await fetch(`${daemon.url}/hooks/github`, {
        method: 'POST',
        headers: forged,
        body,
      });
      expect(refused.status).toBe(401);
      expect(events(daemon).map((e) => e.id)).toEqual(['env-1']);
      expect(daemon.rejects.snapshot()).toEqual([
        { source: 'github', reason: 'bad-signature', count: 1 },
      ]);
    } finally {
      delete process.env.AGENTD_TEST_GH_SECRET;
    }
  });

  it('fails to start, naming the field, when an { env } secret is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-auth-'));
    dirs.push(dir);
    const config = validateConfig(
      { sources: [{ kind: 'slack', signingSecret: { env: 'AGENTD_TEST_UNSET_SECRET' } }] },
      'test',
    );
    await expect(startDaemon({ config, dataDir: dir, log, port: 0 })).rejects.toThrow(
      'sources[0].signingSecret.env: the environment variable AGENTD_TEST_UNSET_SECRET is not set',
    );
    // The data directory was released: a daemon starts on it at once.
    await start({}, dir);
  });
});
