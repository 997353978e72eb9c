// Logs: JSON lines at the configured level, run lines carrying event id, route, run id and trace
// id, readable lines on request, and secrets and webhook bodies redacted whatever a caller passes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteBus } from '../../src/bus/sqlite/sqlite-bus.js';
import { toEvent } from '../../src/core/envelope.js';
import { on } from '../../src/core/route.js';
import { createLogger } from '../../src/observe/log.js';
import { createWorker } from '../../src/runtime/worker.js';
import { eventually } from './observe-harness.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
  lines(): Record<string, unknown>[] {
    return this.text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('logs', () => {
  it('redact secrets and webhook bodies wherever they appear', () => {
    const out = new Capture();
    const log = createLogger({ destination: out });
    log.warn(
      {
        token: 'tok-1',
        secret: 'sec-1',
        password: 'pw-1',
        apiKey: 'key-1',
        authorization: 'Bearer tok-2',
        headers: {
          authorization: 'Bearer tok-3',
          'x-api-key': 'key-2',
          'x-github-delivery': 'd-1',
        },
        source: { secret: 'sec-2', token: 'tok-4' },
        body: '{"payload":"webhook body"}',
      },
      'refused',
    );
    for (const secret of [
      'tok-1',
      'tok-2',
      'tok-3',
      'tok-4',
      'sec-1',
      'sec-2',
      'pw-1',
      'key-1',
      'key-2',
      'webhook body',
    ])
      expect(out.text).not.toContain(secret);
    const line = out.lines()[0] as Record<string, Record<string, unknown>>;
    expect(line.headers?.authorization).toBe('[redacted]');
    expect(line.headers?.['x-github-delivery']).toBe('d-1');
    expect(line.body).toBe('[redacted]');
  });

  it('drop lines below the configured level', () => {
    const out = new Capture();
    const log = createLogger({ level: 'warn', destination: out });
    log.info('not shown');
    log.warn('shown');
    expect(out.lines().map((l) => l.msg)).toEqual(['shown']);
  });

  it('read as plain lines when pretty output is asked for', () => {
    const out = new Capture();
    createLogger({ pretty: true, destination: out }).info({ route: 'r' }, 'hello there');
    expect(out.text).toContain('hello there');
    expect(() => JSON.parse(out.text.trim()) as unknown).toThrow();
  });

  it('carry event id, route, run id and trace id on every line of a run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agentd-log-'));
    dirs.push(dir);
    const out = new Capture();
    const log = createLogger({ level: 'info', destination: out });
    const bus = new SqliteBus({ path: join(dir, 'agentd.db') });
    let calls = 0;
    const worker = createWorker({
      bus,
      log,
      source: 'agentd://test',
      routes: [
        {
          ...on('log.me', {
            retries: { maxAttempts: 2, initialMs: 10, maxMs: 10 },
            handler: (_event, ctx) => {
              ctx.log.info('inside the handler');
              if (++calls === 1) throw new Error('first try fails');
            },
          }),
          name: 'logger',
        },
      ],
    });
    await worker.start();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await bus.publish([
      toEvent(
        { type: 'log.me', id: 'ev-1', traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
        { source: 'test', trust: 'operator' },
      ),
    ]);
    await eventually(() => calls === 2);
    await worker.stop();
    await bus.close();
    const runLines = out
      .lines()
      .filter((l) => l.msg === 'inside the handler' || l.msg === 'run failed; will retry');
    expect(runLines).toHaveLength(3);
    for (const line of runLines)
      expect(line).toMatchObject({
        eventId: 'ev-1',
        route: 'logger',
        runId: expect.any(String) as unknown,
        traceId,
      });
  });
});
