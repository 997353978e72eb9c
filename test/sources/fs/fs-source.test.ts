// The fs source on a real file system: bursts become few events that name every path, globs and
// ignores pick what is reported, and a watched directory removed and re-created is watched again.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FsSource,
  type FsChangedData,
  type FsSourceOptions,
} from '../../../src/sources/fs/fs-source.js';
import { log, openLocalBus, startSource, stopSources, type LocalBus } from '../local-bus.js';

let local: LocalBus | undefined;
const dirs: string[] = [];

afterEach(async () => {
  await stopSources();
  await local?.close();
  local = undefined;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'agentd-fs-')));
  dirs.push(dir);
  return dir;
}

async function startWatch(
  options: Partial<FsSourceOptions> & Pick<FsSourceOptions, 'paths' | 'baseDir'>,
) {
  local ??= openLocalBus();
  const source = new FsSource({ name: 'docs', log, debounceMs: 100, rescanMs: 100, ...options });
  return startSource(source, local.publish);
}

const changed = () => local!.stored('fs.changed').map((e) => e.data as FsChangedData);
const changes = () => changed().flatMap((d) => d.changes);
const kindsOf = (path: string) =>
  changes()
    .filter((c) => c.path === path)
    .map((c) => c.kind);

async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(changes())}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('fs source', () => {
  it('coalesces 1,000 file writes in a burst into a few events that together name every path', async () => {
    const base = tempDir();
    mkdirSync(join(base, 'out'));
    // The defaults: a burst ends after 200 ms without a change, or after 2 s.
    await startWatch({ paths: ['out'], baseDir: base, debounceMs: undefined });
    const names = Array.from({ length: 1_000 }, (_, i) => `out/file-${i}.txt`);
    await Promise.all(names.map((name) => writeFile(join(base, name), name)));

    await until('every path', () => new Set(changes().map((c) => c.path)).size >= 1_000, 30_000);
    await sleep(400); // anything still trickling in would be another event
    const events = local!.stored('fs.changed');
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events.length).toBeLessThanOrEqual(5);
    expect(new Set(changes().map((c) => c.path))).toEqual(new Set(names));
    expect(changes().every((c) => c.kind === 'add' || c.kind === 'change')).toBe(true);
  });

  it('publishes fs.changed keyed by the watch name, with each path relative to the base and its kind', async () => {
    const base = tempDir();
    mkdirSync(join(base, 'docs'));
    writeFileSync(join(base, 'docs', 'old.md'), 'old');
    await startWatch({ paths: ['docs'], baseDir: base, node: 'n1' });
    writeFileSync(join(base, 'docs', 'new.md'), 'new');
    writeFileSync(join(base, 'docs', 'old.md'), 'edited');
    mkdirSync(join(base, 'docs', 'guides'));
    await until('three changes', () => changes().length >= 3);

    const [event] = local!.stored('fs.changed');
    expect(event).toMatchObject({
      type: 'fs.changed',
      source: 'fs:docs',
      dataschema: 'agentd:fs.changed/v1',
      partitionkey: 'docs',
      trust: 'operator',
      origin: 'n1',
      data: { watch: 'docs', base },
    });
    // A write can land after chokidar's first look: 'add' may be followed by a 'change' later.
    expect(kindsOf('docs/new.md')[0]).toBe('add');
    expect(kindsOf('docs/old.md')[0]).toBe('change');
    expect(kindsOf('docs/guides')).toEqual(['addDir']);

    rmSync(join(base, 'docs', 'old.md'));
    rmSync(join(base, 'docs', 'guides'), { recursive: true });
    await until('the removals', () => kindsOf('docs/guides').includes('unlinkDir'));
    await until('the unlink', () => kindsOf('docs/old.md').includes('unlink'));
  });

  it('reports only paths its globs name, never .git, node_modules, ignored globs or the data directory', async () => {
    const base = tempDir();
    for (const dir of ['src/lib', 'src/.git', 'src/node_modules/x', 'src/gen', '.agentd'])
      mkdirSync(join(base, dir), { recursive: true });
    await startWatch({
      paths: ['src/**/*.ts'],
      ignore: ['src/gen/**'],
      baseDir: base,
      dataDir: join(base, '.agentd'),
    });
    writeFileSync(join(base, 'src/.git/HEAD.ts'), 'x');
    writeFileSync(join(base, 'src/node_modules/x/index.ts'), 'x');
    writeFileSync(join(base, 'src/gen/out.ts'), 'x');
    writeFileSync(join(base, 'src/lib/readme.md'), 'x');
    writeFileSync(join(base, '.agentd/agentd.db'), 'x');
    writeFileSync(join(base, 'src/lib/a.ts'), 'x');
    await until('a.ts', () => changes().length > 0);
    await sleep(300);
    expect(new Set(changes().map((c) => c.path))).toEqual(new Set(['src/lib/a.ts']));
    expect(changes()[0]).toEqual({ path: 'src/lib/a.ts', kind: 'add' });
  });

  it('keeps watching a watched directory that is removed and created again', async () => {
    const base = tempDir();
    mkdirSync(join(base, 'site', 'sub'), { recursive: true });
    await startWatch({ paths: ['site'], baseDir: base });

    // A subdirectory first, then the watched directory itself.
    rmSync(join(base, 'site', 'sub'), { recursive: true });
    await until('sub removed', () => kindsOf('site/sub').includes('unlinkDir'));
    mkdirSync(join(base, 'site', 'sub'));
    writeFileSync(join(base, 'site', 'sub', 'one.txt'), '1');
    await until('one.txt', () => kindsOf('site/sub/one.txt').length > 0);

    rmSync(join(base, 'site'), { recursive: true });
    await until('site removed', () => kindsOf('site').includes('unlinkDir'));
    await sleep(250); // a rescan or two with the directory missing
    mkdirSync(join(base, 'site'));
    writeFileSync(join(base, 'site', 'two.txt'), '2');
    await until('two.txt', () => kindsOf('site/two.txt').length > 0);
    writeFileSync(join(base, 'site', 'three.txt'), '3');
    await until('three.txt', () => kindsOf('site/three.txt').length > 0);
    writeFileSync(join(base, 'site', 'two.txt'), 'edited');
    await until('two.txt edited', () => kindsOf('site/two.txt').includes('change'));
  });

  it('watches a directory that does not exist yet once it appears', async () => {
    const base = tempDir();
    await startWatch({ paths: ['later/**/*.log'], baseDir: base });
    mkdirSync(join(base, 'later', 'a'), { recursive: true });
    writeFileSync(join(base, 'later', 'a', 'x.log'), 'x');
    await until('x.log', () => kindsOf('later/a/x.log').includes('add'));
  });

  it('publishes the changes still pending when it stops', async () => {
    const base = tempDir();
    mkdirSync(join(base, 'docs'));
    const stop = await startWatch({
      paths: ['docs'],
      baseDir: base,
      debounceMs: 60_000,
      maxWaitMs: 600_000,
    });
    writeFileSync(join(base, 'docs', 'late.md'), 'x');
    await sleep(300);
    expect(changes()).toEqual([]);
    await stop();
    expect(changes()).toEqual([{ path: 'docs/late.md', kind: 'add' }]);
  });
});
