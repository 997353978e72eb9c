// The compatibility check: the registry against the last released snapshot of it. A version, once
// released, is a promise to every stored event and every handler written for it: it may widen,
// never break. A breaking change belongs in a new version with an upcaster from the old one.
import { exportSchemas, type JsonSchema } from './json-schema.js';
import { breakingChanges } from './schema-diff.js';
import type { TypeRegistry } from './type-registry.js';

export interface Snapshot {
  format: 1;
  types: Record<string, { types: string[]; versions: Record<string, JsonSchema> }>;
}

export interface Incompatibility {
  type: string;
  version: string;
  path: string;
  change: string;
}

export interface CompatibilityReport {
  breaking: Incompatibility[];
  /** `name vN` released versions whose schema changed compatibly, and versions or types added. */
  changed: string[];
  added: string[];
}

export function takeSnapshot(registry: TypeRegistry): Snapshot {
  const types: Snapshot['types'] = {};
  for (const exported of exportSchemas(registry)) {
    const entry = (types[exported.name] ??= { types: [...exported.types], versions: {} });
    entry.versions[`v${exported.version}`] = exported.schema;
  }
  return { format: 1, types };
}

export function parseSnapshot(text: string, where: string): Snapshot {
  const parsed = JSON.parse(text) as Partial<Snapshot>;
  if (parsed.format !== 1 || typeof parsed.types !== 'object' || parsed.types === null)
    throw new Error(
      `${where}: not an agentd schema snapshot (expected {"format": 1, "types": ...})`,
    );
  return parsed as Snapshot;
}

export function checkCompatibility(
  released: Snapshot,
  registry: TypeRegistry,
): CompatibilityReport {
  const current = takeSnapshot(registry);
  const report: CompatibilityReport = { breaking: [], changed: [], added: [] };
  for (const [name, before] of Object.entries(released.types)) {
    const now = current.types[name];
    if (now === undefined) {
      report.breaking.push({ type: name, version: '*', path: '(type)', change: 'type removed' });
      continue;
    }
    for (const [version, schema] of Object.entries(before.versions)) {
      const after = now.versions[version];
      if (after === undefined) {
        report.breaking.push({ type: name, version, path: '(version)', change: 'version removed' });
        continue;
      }
      for (const change of breakingChanges(schema, after))
        report.breaking.push({ type: name, version, ...change });
      if (JSON.stringify(schema) !== JSON.stringify(after))
        report.changed.push(`${name} ${version}`);
    }
    for (const version of Object.keys(now.versions))
      if (before.versions[version] === undefined) report.added.push(`${name} ${version}`);
  }
  for (const name of Object.keys(current.types))
    if (released.types[name] === undefined) report.added.push(name);
  return report;
}

/** `billing.invoice.paid v1: amount: field removed`, with the way out. */
export function describeIncompatibility(i: Incompatibility): string {
  return `${i.type} ${i.version}: ${i.path}: ${i.change}`;
}

export const BREAKING_ADVICE =
  'a released version must keep accepting what it accepted: restore it, and put the new shape in a new version ' +
  'with an upcaster from the last one (defineEventType(...).next(schema, upcast)); or, if the change is meant, ' +
  'run `agentd schemas snapshot` to release it';

/** The snapshot as a file: one line per version, so a diff shows which versions changed. */
export function formatSnapshot(snapshot: Snapshot): string {
  const types = Object.entries(snapshot.types).map(([name, entry]) => {
    const versions = Object.entries(entry.versions).map(
      ([version, schema]) => `        ${JSON.stringify(version)}: ${JSON.stringify(schema)}`,
    );
    return [
      `    ${JSON.stringify(name)}: {`,
      `      "types": ${JSON.stringify(entry.types)},`,
      `      "versions": {`,
      versions.join(',\n'),
      `      }`,
      `    }`,
    ].join('\n');
  });
  return `{\n  "format": 1,\n  "types": {\n${types.join(',\n')}\n  }\n}\n`;
}
