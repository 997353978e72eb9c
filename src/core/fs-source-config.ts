// Config schema of file watches: the `fs` source kind, publishing `fs.changed` for bursts of changes.
import { z } from 'zod';
import { sourceNameSchema } from './source-fields.js';

/** Never watched, whatever the config says: churn nobody means to react to. */
export const DEFAULT_FS_IGNORES = ['**/.git/**', '**/node_modules/**'] as const;

export const fsSourceSchema = z.strictObject({
  kind: z.literal('fs'),
  /** The watch's name: each event's `partitionkey`. Default "fs". */
  name: sourceNameSchema.optional(),
  /** Directories, files or globs (`src/**\/*.ts`), relative to the config file's directory. */
  paths: z.array(z.string().min(1)).min(1).max(100),
  /** Globs of paths to leave out, on top of .git, node_modules and agentd's data directory. */
  ignore: z.array(z.string().min(1)).max(100).optional(),
  /** A burst ends after this long without a change. Default 200. */
  debounceMs: z.int().min(0).max(60_000).optional(),
  /** A burst that goes on is published at least this often. Default 2000. */
  maxWaitMs: z.int().min(1).max(600_000).optional(),
  /** Changes per event; a bigger burst becomes several events. Default 1000. */
  maxPaths: z.int().min(1).max(10_000).optional(),
  /** Poll instead of using OS events (network file systems, some containers). Default false. */
  usePolling: z.boolean().optional(),
});

export type FsSourceConfig = z.output<typeof fsSourceSchema>;
