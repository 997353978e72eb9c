// Confines a path the model asked for to the run's workspace. A lexical check refuses `..` and
// absolute paths; realpath checks refuse symlinks (anywhere in the chain) that lead outside.
import { lstat, mkdir, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ToolRefusedError } from '../agent-errors.js';

/** True when `path` is `root` or below it. Both must be absolute and normalized. */
export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

function lexical(workspace: string, requested: string): string {
  if (requested.includes('\0')) throw new ToolRefusedError(`path contains a NUL byte`);
  const target = resolve(workspace, requested);
  if (!isInside(workspace, target)) {
    throw new ToolRefusedError(
      `path "${requested}" is outside the workspace${isAbsolute(requested) ? ' (absolute paths must lie inside it)' : ''}`,
    );
  }
  return target;
}

/** The real path of an existing file or directory inside the workspace, for reading. */
export async function pathForReading(workspace: string, requested: string): Promise<string> {
  const target = lexical(workspace, requested);
  const real = await realpath(target);
  if (!isInside(workspace, real)) {
    throw new ToolRefusedError(
      `path "${requested}" leads through a symlink to outside the workspace`,
    );
  }
  return real;
}

/**
 * A path to write to: the real path of an existing file, or of its nearest existing ancestor
 * plus the missing segments (created as directories here). The caller opens it with O_NOFOLLOW,
 * so a symlink swapped in after the check is not followed either.
 */
export async function pathForWriting(workspace: string, requested: string): Promise<string> {
  const target = lexical(workspace, requested);
  if (target === workspace) throw new ToolRefusedError('cannot write to the workspace directory');
  let existing = target;
  const missing: string[] = [];
  for (;;) {
    const stat = await lstat(existing).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (stat !== undefined) break;
    missing.unshift(relative(dirname(existing), existing));
    existing = dirname(existing);
  }
  let real: string;
  try {
    real = await realpath(existing);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ToolRefusedError(`path "${requested}" goes through a dangling symlink`);
    }
    throw error;
  }
  if (!isInside(workspace, real)) {
    throw new ToolRefusedError(
      `path "${requested}" leads through a symlink to outside the workspace`,
    );
  }
  const final = missing.length === 0 ? real : join(real, ...missing);
  if (missing.length > 1) await mkdir(dirname(final), { recursive: true });
  return final;
}
