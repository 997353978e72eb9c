// JSON Schema for every registered type and version (zod 4's toJSONSchema), for `agentd schemas
// export`, the compatibility snapshot and the reference page. Input schemas: what producers send.
import { z } from 'zod';
import type { EventTypeDefinition } from '../core/event-type.js';
import type { TypeRegistry } from './type-registry.js';

export type JsonSchema = Record<string, unknown>;

export interface ExportedSchema {
  name: string;
  version: number;
  dataschema: string;
  types: readonly string[];
  description: string | undefined;
  /** Without `$schema`, so snapshots diff on substance. */
  schema: JsonSchema;
}

export function versionSchema(type: EventTypeDefinition, version: number): JsonSchema {
  const definition = type.versions[version - 1];
  if (definition === undefined) throw new Error(`${type.name} has no v${version}`);
  const schema = z.toJSONSchema(definition.schema, {
    io: 'input',
    // A z.custom() or a function has no JSON Schema: it reads as "anything" rather than failing.
    unrepresentable: 'any',
  }) as JsonSchema;
  delete schema.$schema;
  return schema;
}

export function exportSchemas(registry: TypeRegistry): ExportedSchema[] {
  return registry.all().flatMap((type) =>
    type.versions.map(({ version }) => ({
      name: type.name,
      version,
      dataschema: `agentd:${type.name}/v${version}`,
      types: type.types,
      description: type.description,
      schema: versionSchema(type, version),
    })),
  );
}

/** One standalone JSON Schema document per version, with `$id` the dataschema. */
export function schemaDocument(exported: ExportedSchema): JsonSchema {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: exported.dataschema,
    title: `${exported.name} v${exported.version}`,
    ...(exported.description === undefined ? {} : { description: exported.description }),
    ...exported.schema,
  };
}
