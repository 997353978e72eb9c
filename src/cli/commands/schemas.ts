// agentd schemas list|check|snapshot|export|docs: the event type registry as contracts. `check`
// compares it with the released snapshot and fails on a breaking change.
import type { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { loadConfig } from '../../config/load-config.js';
import { builtinSections } from '../../contracts/builtin/builtin-types.js';
import {
  BREAKING_ADVICE,
  checkCompatibility,
  describeIncompatibility,
  formatSnapshot,
  parseSnapshot,
  takeSnapshot,
} from '../../contracts/compatibility.js';
import { registryFor } from '../../contracts/config-contracts.js';
import { exportSchemas, schemaDocument } from '../../contracts/json-schema.js';
import { renderReference } from '../../contracts/reference-doc.js';
import { printJson, printTable, UsageError } from '../cli-support.js';

interface SchemaOptions {
  config?: string;
  snapshot?: string;
  json?: boolean;
}

const DEFAULT_SNAPSHOT = join('schemas', 'snapshot.json');

export function registerSchemas(program: Command): void {
  const schemas = program
    .command('schemas')
    .description('event types as contracts: list, check compatibility, snapshot, export');
  const withConfig = (command: Command) => command.option('-c, --config <file>', 'config file');
  const withSnapshot = (command: Command) =>
    withConfig(command).option(
      '--snapshot <file>',
      `the released snapshot (default ${DEFAULT_SNAPSHOT})`,
    );

  withConfig(
    schemas
      .command('list')
      .description('every event type with a contract')
      .option('--json', 'print JSON'),
  ).action(async (opts: SchemaOptions) => {
    const { registry } = await load(opts);
    const rows = registry.all().map((t) => ({
      name: t.name,
      types: t.types,
      versions: t.versions.map((v) => `v${v.version}`),
    }));
    if (opts.json === true) return printJson(rows);
    printTable(
      ['contract', 'event types', 'versions'],
      rows.map((r) => [r.name, r.types.join(', '), r.versions.join(' ')]),
      'no event types',
    );
  });

  withSnapshot(
    schemas
      .command('check')
      .description('fail on a breaking change against the released snapshot')
      .option('--json', 'print JSON'),
  ).action(async (opts: SchemaOptions) => {
    const { registry, snapshotFile } = await load(opts);
    if (!existsSync(snapshotFile))
      throw new UsageError(
        `no snapshot at ${snapshotFile}: run agentd schemas snapshot to make one`,
      );
    const released = parseSnapshot(readFileSync(snapshotFile, 'utf8'), snapshotFile);
    const report = checkCompatibility(released, registry);
    if (opts.json === true) printJson(report);
    else {
      for (const change of report.breaking)
        process.stdout.write(`breaking: ${describeIncompatibility(change)}\n`);
      for (const name of report.changed) process.stdout.write(`changed (compatible): ${name}\n`);
      for (const name of report.added) process.stdout.write(`added: ${name}\n`);
      if (report.breaking.length === 0)
        process.stdout.write(
          `compatible with ${relative(process.cwd(), snapshotFile) || snapshotFile}` +
            (report.changed.length + report.added.length > 0
              ? ' (run agentd schemas snapshot when you release these changes)\n'
              : '\n'),
        );
    }
    const [first] = report.breaking;
    if (first !== undefined) {
      const more = report.breaking.length - 1;
      throw new Error(
        `breaking change: ${describeIncompatibility(first)}${more > 0 ? ` (and ${more} more)` : ''}; ${BREAKING_ADVICE}`,
      );
    }
  });

  withSnapshot(
    schemas
      .command('snapshot')
      .description('release the registry: write it as the snapshot checks compare with'),
  ).action(async (opts: SchemaOptions) => {
    const { registry, snapshotFile } = await load(opts);
    const snapshot = takeSnapshot(registry);
    mkdirSync(dirname(snapshotFile), { recursive: true });
    writeFileSync(snapshotFile, formatSnapshot(snapshot));
    const versions = Object.values(snapshot.types).reduce(
      (n, t) => n + Object.keys(t.versions).length,
      0,
    );
    process.stdout.write(
      `wrote ${registry.size} types (${versions} versions) to ${snapshotFile}\n`,
    );
  });

  withConfig(
    schemas
      .command('export')
      .description(
        'JSON Schema of every type and version: one file each with --out, else one JSON on stdout',
      )
      .option('-o, --out <dir>', 'write <dir>/<type>.v<N>.schema.json'),
  ).action(async (opts: SchemaOptions & { out?: string }) => {
    const { registry } = await load(opts);
    const documents = exportSchemas(registry).map((exported) => ({
      exported,
      doc: schemaDocument(exported),
    }));
    if (opts.out === undefined)
      return printJson(
        Object.fromEntries(documents.map(({ exported, doc }) => [exported.dataschema, doc])),
      );
    const dir = resolve(opts.out);
    mkdirSync(dir, { recursive: true });
    for (const { exported, doc } of documents)
      writeFileSync(
        join(dir, `${exported.name}.v${exported.version}.schema.json`),
        `${JSON.stringify(doc, null, 2)}\n`,
      );
    process.stdout.write(`wrote ${documents.length} schemas to ${dir}\n`);
  });

  schemas
    .command('docs')
    .description('the reference page of built-in event types (docs/event-types.md)')
    .option('-o, --out <file>', 'write it here instead of stdout')
    .action((opts: { out?: string }) => {
      const page = renderReference(builtinSections);
      if (opts.out === undefined) return void process.stdout.write(page);
      writeFileSync(resolve(opts.out), page);
      process.stdout.write(`wrote ${opts.out}\n`);
    });
}

async function load(opts: SchemaOptions) {
  const loaded = await loadConfig(opts.config);
  const snapshotFile = resolve(opts.snapshot ?? join(loaded.baseDir, DEFAULT_SNAPSHOT));
  return { registry: registryFor(loaded.config), snapshotFile };
}
