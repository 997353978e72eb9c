// Runs the real agentd CLI as a child process (node --import tsx src/cli/main.ts) for the CLI tests.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, expect, vi } from 'vitest';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** What configs written in temp directories import instead of 'agentd'. */
export const SRC_INDEX = join(REPO, 'src', 'index.ts');
const MAIN = join(REPO, 'src', 'cli', 'main.ts');
// Resolved here: `--import tsx` would be resolved against the child's cwd, a temp directory.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  /** Written to stdin, which is then closed (it is closed at once without). */
  input?: string;
  timeoutMs?: number;
}

function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.AGENTD_TOKEN;
  return env;
}

function spawnChild(args: readonly string[], cwd: string): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd,
    env: childEnv(),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // A command may exit before reading its stdin; that is no test failure.
  child.stdin.on('error', () => undefined);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  return child;
}

/** Runs `agentd ...args` to its end. */
export function runCli(args: readonly string[], options: RunOptions): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawnChild(args, options.cwd);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: string) => (stdout += chunk));
    child.stderr.on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`agentd ${args.join(' ')} ran over ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A long-running `agentd` (start, events --follow) whose output is read while it runs. */
export class CliProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private done = false;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(
    readonly args: readonly string[],
    cwd: string,
  ) {
    this.child = spawnChild(args, cwd);
    this.child.stdout.on('data', (chunk: string) => (this.stdout += chunk));
    this.child.stderr.on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.done = true;
        running.delete(this);
        resolve({ code, signal });
      });
    });
    running.add(this);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get hasExited(): boolean {
    return this.done;
  }

  /** Resolves once stdout satisfies `ready`; rejects if the process ends or time runs out first. */
  async waitForStdout(ready: (stdout: string) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready(this.stdout)) {
      if (this.done) throw new Error(`agentd ${this.args.join(' ')} ended: ${this.stderr}`);
      if (Date.now() > deadline)
        throw new Error(`agentd ${this.args.join(' ')}: no expected output in ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Sends `signal` and waits for the exit; SIGKILLs and throws when it does not come in time. */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
    timeoutMs = 10_000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.done) this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
      throw new Error(
        `agentd ${this.args.join(' ')} did not exit within ${timeoutMs} ms of ${signal}`,
      );
    }
    return outcome;
  }
}

const running = new Set<CliProcess>();

export function spawnCli(args: readonly string[], options: { cwd: string }): CliProcess {
  return new CliProcess(args, options.cwd);
}

/** SIGKILLs every CLI process a test left running (call it in afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop('SIGKILL')));
}

export interface RunningDaemon {
  process: CliProcess;
  url: string;
  dataDir: string;
}

/** `agentd start --port 0 ...args`, resolved once daemon.json has its URL and GET /readyz is 200. */
export async function startDaemon(
  cwd: string,
  dataDir: string,
  args: readonly string[] = [],
): Promise<RunningDaemon> {
  const proc = spawnCli(['start', '--port', '0', '--data-dir', dataDir, ...args], { cwd });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.hasExited) throw new Error(`agentd start ended before it was ready: ${proc.stderr}`);
    if (Date.now() > deadline) {
      await proc.stop('SIGKILL');
      throw new Error(`agentd start was not ready within 30 s: ${proc.stderr}`);
    }
    const url = daemonUrl(join(cwd, dataDir), proc.pid);
    if (url !== undefined && (await isReady(url))) return { process: proc, url, dataDir };
    await sleep(50);
  }
}

function daemonUrl(dataDir: string, pid: number): string | undefined {
  try {
    const info = JSON.parse(readFileSync(join(dataDir, 'daemon.json'), 'utf8')) as {
      pid?: number;
      url?: string;
    };
    return info.pid === pid && info.url !== undefined && info.url !== '' ? info.url : undefined;
  } catch {
    return undefined;
  }
}

async function isReady(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/readyz`)).status === 200;
  } catch {
    return false;
  }
}

/** Repeats `probe` until it returns a value other than undefined. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Each CLI call spawns node with tsx (about a second of CPU): allow for a busy machine. */
export const CLI_TEST_TIMEOUTS = { testTimeout: 90_000, hookTimeout: 90_000 };

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const tempDirs: string[] = [];

/** A fresh directory under the OS temp dir, removed by removeTempDirs(). */
export function makeTempDir(): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'agentd-cli-')));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * What every CLI test file sets up at its top: CLI_TEST_TIMEOUTS (with `timeouts` over them), and an
 * afterAll that kills the CLI processes its tests left running, then removes their temp directories.
 */
export function setUpCliTests(timeouts: Partial<typeof CLI_TEST_TIMEOUTS> = {}): void {
  vi.setConfig({ ...CLI_TEST_TIMEOUTS, ...timeouts });
  afterAll(async () => {
    await killAll();
    removeTempDirs();
  });
}

/**
 * Writes a config whose `defineConfig`, `on` and `NonRetryableError` come from this repo's src,
 * in a directory marked as ES modules (see markEsm).
 */
export function writeConfig(dir: string, body: string, name = 'agentd.config.ts'): string {
  const file = join(dir, name);
  mkdirSync(dirname(file), { recursive: true });
  markEsm(dir);
  writeFileSync(
    file,
    `import { defineConfig, NonRetryableError, on } from ${JSON.stringify(SRC_INDEX)};\n` +
      `${body}\n`,
  );
  return file;
}

/**
 * Writes package.json with "type": "module" in `dir`. Without it a .ts config loads as CommonJS
 * and requires src/index.ts, which fails on dependencies that only export for `import`.
 */
export function markEsm(dir: string): void {
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
}

/** Parses a command's stdout, failing the test with the output when it is not JSON. */
export function parseJson<T>(result: CliResult): T {
  expect(result.code, result.stderr).toBe(0);
  try {
    return JSON.parse(result.stdout) as T;
  } catch (error) {
    throw new Error(`stdout is not JSON (${(error as Error).message}):\n${result.stdout}`, {
      cause: error,
    });
  }
}

/** Asserts the command succeeded, showing stderr when it did not. */
export function expectSuccess(result: CliResult): void {
  expect(result.code, result.stderr).toBe(0);
}

/** The usage-error contract: exit code 2 and exactly one `agentd: ...` line on stderr. */
export function expectUsageError(result: CliResult, ...patterns: (RegExp | string)[]): void {
  expectOneLineError(result, ...patterns);
  expect(result.code, result.stderr).toBe(2);
}

/** A non-zero exit with exactly one `agentd: ...` line on stderr that matches every pattern. */
export function expectOneLineError(result: CliResult, ...patterns: (RegExp | string)[]): void {
  expect(result.code, result.stderr).not.toBe(0);
  expect(result.code).not.toBeNull();
  const line = result.stderr.trim();
  expect(line, 'stderr should be one line').not.toContain('\n');
  expect(line).toMatch(/^agentd: /);
  for (const pattern of patterns) {
    if (typeof pattern === 'string') expect(line).toContain(pattern);
    else expect(line).toMatch(pattern);
  }
}
