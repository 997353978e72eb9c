// What a file watch looks at: the directories (or files) to watch, which of the paths under them
// the config's globs name, and which are ignored. chokidar 4 no longer takes globs, so they are
// split here into a static root it watches and a matcher applied to each change.
import picomatch from 'picomatch';
import { isAbsolute, relative, resolve, sep } from 'node:path';

export interface WatchPlan {
  /** Absolute paths to watch, none inside another. */
  roots: string[];
  /** True when a changed path is one the config asks about. */
  includes(path: string): boolean;
  /** True for paths never to report or descend into. */
  ignores(path: string): boolean;
  /** The path as reported in events: relative to the base directory, with `/` separators. */
  display(path: string): string;
}

export interface WatchPlanOptions {
  /** Directories, files or globs; relative ones are read from `baseDir`. */
  paths: readonly string[];
  /** Globs to ignore, relative to `baseDir` (or absolute). */
  ignore: readonly string[];
  baseDir: string;
  /** Directories ignored whatever the globs say (agentd's own data directory). */
  ignoreDirs?: readonly string[];
}

const toPosix = (path: string) => (sep === '/' ? path : path.split(sep).join('/'));

export function planWatch(options: WatchPlanOptions): WatchPlan {
  const { baseDir } = options;
  const includes: Array<(path: string) => boolean> = [];
  const roots: string[] = [];
  for (const pattern of options.paths) {
    const scan = picomatch.scan(pattern);
    const root = resolve(baseDir, scan.base === '' ? '.' : scan.base);
    roots.push(root);
    if (scan.isGlob) {
      const matcher = picomatch(`${toPosix(root)}/${scan.glob}`, { dot: true });
      includes.push((path) => matcher(toPosix(path)));
    } else {
      // A plain directory names everything under it.
      includes.push((path) => path === root || path.startsWith(root + sep));
    }
  }
  const ignoreGlobs = picomatch([...options.ignore], { dot: true });
  const ignoreDirs = (options.ignoreDirs ?? []).map((dir) => resolve(baseDir, dir));
  const display = (path: string) => {
    const rel = relative(baseDir, path);
    return rel === '' ? '.' : toPosix(rel);
  };
  return {
    roots: outermost(roots),
    includes: (path) => includes.some((matches) => matches(path)),
    ignores(path) {
      if (ignoreDirs.some((dir) => path === dir || path.startsWith(dir + sep))) return true;
      const rel = relative(baseDir, path);
      const inside = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
      return ignoreGlobs(toPosix(path)) || (inside && ignoreGlobs(toPosix(rel)));
    },
    display,
  };
}

/** Drops roots inside other roots (and duplicates): one watcher per tree. */
function outermost(roots: string[]): string[] {
  const sorted = [...new Set(roots)].sort((a, b) => a.length - b.length);
  const kept: string[] = [];
  for (const root of sorted)
    if (!kept.some((outer) => root === outer || root.startsWith(outer + sep))) kept.push(root);
  return kept;
}
