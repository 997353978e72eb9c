// The contracts on the command line: agentd schemas check|snapshot|export and agentd quarantine
// list|show|replay|purge, against configs in temp directories.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  expectOneLineError,
  expectSuccess,
  makeTempDir,
  parseJson,
  runCli,
  setUpCliTests,
  SRC_INDEX,
  writeConfig,
} from './run-cli.js';

setUpCliTests({ testTimeout: 150_000 });

const imports = `import { defineEventType, z } from ${JSON.stringify(SRC_INDEX)};\n`;

/** A config whose only own type is `billing.invoice.paid`, declared by `declaration`. */
function writeTypes(dir: string, declaration: string): void {
  writeConfig(
    dir,
    `${imports}const paid = ${declaration};\nexport default defineConfig({ types: [paid] });`,
  );
}

const V1 = `defineEventType('billing.invoice.paid', z.object({ invoice: z.string(), amount: z.number() }))`;

describe('agentd schemas', () => {
  it('fails check on a removed required field, and passes once it is a new version with an upcaster', async () => {
    const dir = makeTempDir();
    writeTypes(dir, V1);
    expectSuccess(await runCli(['schemas', 'snapshot'], { cwd: dir }));
    expect(existsSync(join(dir, 'schemas', 'snapshot.json'))).toBe(true);
    expectSuccess(await runCli(['schemas', 'check'], { cwd: dir }));

    writeTypes(dir, `defineEventType('billing.invoice.paid', z.object({ invoice: z.string() }))`);
    const broken = await runCli(['schemas', 'check'], { cwd: dir });
    expectOneLineError(broken, 'breaking change: billing.invoice.paid v1: amount: field removed');
    expect(broken.code).toBe(1);

    writeTypes(
      dir,
      `${V1}.next(z.object({ invoice: z.string(), cents: z.int() }), (v1) => ({ invoice: v1.invoice, cents: Math.round(v1.amount * 100) }))`,
    );
    const fixed = await runCli(['schemas', 'check'], { cwd: dir });
    expectSuccess(fixed);
    expect(fixed.stdout).toContain('added: billing.invoice.paid v2');
  });

  it('exports one JSON Schema per type and version', async () => {
    const dir = makeTempDir();
    writeTypes(dir, V1);
    expectSuccess(await runCli(['schemas', 'export', '--out', 'json'], { cwd: dir }));
    const schema = JSON.parse(
      readFileSync(join(dir, 'json', 'billing.invoice.paid.v1.schema.json'), 'utf8'),
    ) as Record<string, unknown>;
    expect(schema).toMatchObject({
      $id: 'agentd:billing.invoice.paid/v1',
      required: ['invoice', 'amount'],
    });
    expect(existsSync(join(dir, 'json', 'github.pull_request.opened.v1.schema.json'))).toBe(true);
  });
});

describe('agentd quarantine', () => {
  it('lists and shows a refused event, and publishes it on replay once the schema is fixed', async () => {
    const dir = makeTempDir();
    writeTypes(dir, V1);
    const emitted = await runCli(
      ['emit', 'billing.invoice.paid', '--data', '{"invoice":"A-7","amount":"12.50"}', '--json'],
      { cwd: dir },
    );
    expect(emitted.code, emitted.stderr).toBe(1);
    expect(JSON.parse(emitted.stdout)).toMatchObject({ quarantined: true });

    const [entry] = parseJson<{ id: string; issues: { path: string }[] }[]>(
      await runCli(['quarantine', 'list', '--json'], { cwd: dir }),
    );
    expect(entry?.issues[0]?.path).toBe('amount');
    const shown = await runCli(['quarantine', 'show', entry!.id], { cwd: dir });
    expectSuccess(shown);
    expect(shown.stdout).toContain('amount: expected number, got the string "12.50"');

    const refused = await runCli(['quarantine', 'replay', entry!.id], { cwd: dir });
    expectOneLineError(refused, '1 event still breaks its contract', 'amount');

    writeTypes(
      dir,
      `defineEventType('billing.invoice.paid', z.object({ invoice: z.string(), amount: z.union([z.number(), z.string()]) }))`,
    );
    const replayed = await runCli(['quarantine', 'replay', '--all', '--json'], { cwd: dir });
    expect(parseJson<{ published: string[] }>(replayed).published).toEqual([entry!.id]);
    const events = parseJson<{ type: string }[]>(
      await runCli(['events', '--json', '--type', 'billing.invoice.paid'], { cwd: dir }),
    );
    expect(events.length).toBe(1);
    expect(
      parseJson<unknown[]>(await runCli(['quarantine', 'list', '--json'], { cwd: dir })),
    ).toEqual([]);
  });

  it('purges, and refuses bad selections with a usage error', async () => {
    const dir = makeTempDir();
    writeTypes(dir, V1);
    await runCli(['emit', 'billing.invoice.paid', '--data', '{}'], { cwd: dir });
    const purged = await runCli(['quarantine', 'purge', '--all', '--json'], { cwd: dir });
    expect(parseJson<{ purged: number }>(purged).purged).toBe(1);
    const usage = await runCli(['quarantine', 'replay'], { cwd: dir });
    expectOneLineError(usage, 'give one or more quarantine ids, or --all');
    expect(usage.code).toBe(2);
  });
});
