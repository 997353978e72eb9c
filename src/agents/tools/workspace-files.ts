// File tools confined to the run's workspace: read_file, list_files and write_file.
import { constants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';
import { ToolRefusedError } from '../agent-errors.js';
import { toolFromZod, type AgentTool, type ToolContext } from './tool.js';
import { pathForReading, pathForWriting } from './workspace-path.js';

export interface FileToolOptions {
  /** read_file and list_files. Default true. */
  read?: boolean;
  /** write_file. Default false. */
  write?: boolean;
  /** Largest slice read_file returns. Default 256 KiB. */
  maxReadBytes?: number;
  /** Largest file write_file writes. Default 1 MiB. */
  maxWriteBytes?: number;
}

const MAX_LISTED = 1_000;

function workspaceOf(ctx: ToolContext): string {
  if (ctx.workspace === undefined) throw new ToolRefusedError('this agent has no workspace');
  return ctx.workspace;
}

export function fileTools(options: FileToolOptions): AgentTool[] {
  const maxRead = options.maxReadBytes ?? 256 * 1024;
  const maxWrite = options.maxWriteBytes ?? 1024 * 1024;
  const tools: AgentTool[] = [];
  if (options.read !== false) {
    tools.push(
      toolFromZod(
        {
          name: 'read_file',
          description: `Reads a UTF-8 text file from the workspace. Paths are relative to the workspace root. Returns at most ${maxRead} bytes from \`offset\`.`,
          input: z.object({
            path: z.string().min(1).describe('file path relative to the workspace root'),
            offset: z.int().min(0).optional().describe('byte offset to start at (default 0)'),
          }),
          run: async ({ path, offset }, ctx) => {
            const real = await pathForReading(workspaceOf(ctx), path);
            const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
            try {
              const size = (await handle.stat()).size;
              const start = Math.min(offset ?? 0, size);
              const buffer = Buffer.alloc(Math.min(maxRead, size - start));
              await handle.read(buffer, 0, buffer.length, start);
              const rest = size - start - buffer.length;
              const text = new TextDecoder().decode(buffer);
              return rest > 0
                ? `${text}\n[truncated: ${rest} more bytes; read again with offset ${start + buffer.length}]`
                : text;
            } finally {
              await handle.close();
            }
          },
        },
        'read',
        true,
      ),
      toolFromZod(
        {
          name: 'list_files',
          description:
            'Lists files in a workspace directory (relative path, default the root). Directories end with "/".',
          input: z.object({
            path: z.string().optional().describe('directory relative to the workspace root'),
            recursive: z.boolean().optional(),
          }),
          run: async ({ path, recursive }, ctx) => {
            const root = workspaceOf(ctx);
            const dir = await pathForReading(root, path ?? '.');
            if (!(await stat(dir)).isDirectory()) return `${path ?? '.'} is not a directory`;
            const out: string[] = [];
            await list(dir, root, recursive === true, out);
            return out.length === 0
              ? '(empty)'
              : out.length >= MAX_LISTED
                ? `${out.join('\n')}\n[stopped at ${MAX_LISTED} entries]`
                : out.join('\n');
          },
        },
        'read',
        true,
      ),
    );
  }
  if (options.write === true) {
    tools.push(
      toolFromZod(
        {
          name: 'write_file',
          description:
            'Writes a UTF-8 text file in the workspace (relative path), creating directories as needed and replacing an existing file.',
          input: z.object({
            path: z.string().min(1).describe('file path relative to the workspace root'),
            content: z.string(),
          }),
          run: async ({ path, content }, ctx) => {
            const bytes = Buffer.byteLength(content);
            if (bytes > maxWrite) {
              throw new ToolRefusedError(`content is ${bytes} bytes, above the ${maxWrite} limit`);
            }
            const real = await pathForWriting(workspaceOf(ctx), path);
            const handle = await open(
              real,
              constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
              0o644,
            );
            try {
              await handle.writeFile(content);
            } finally {
              await handle.close();
            }
            return `wrote ${bytes} bytes to ${path}`;
          },
        },
        'write',
        true,
      ),
    );
  }
  return tools;
}

async function list(dir: string, root: string, recursive: boolean, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const entry of entries) {
    if (out.length >= MAX_LISTED) return;
    const full = join(dir, entry.name);
    const shown = relative(root, full);
    // Symlinked directories are listed but never entered: they may lead outside.
    out.push(entry.isDirectory() ? `${shown}/` : shown);
    if (recursive && entry.isDirectory()) await list(full, root, recursive, out);
  }
}
