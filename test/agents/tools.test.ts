// Built-in tools and their permissions: workspace confinement (traversal, absolute paths,
// symlinks), the command allowlist with timeout and output cap, the fetch host allowlist.
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTool } from '../../src/agents/tools/fetch-tool.js';
import { shellTool } from '../../src/agents/tools/shell-tool.js';
import type { AgentTool, ToolContext, ToolOutput } from '../../src/agents/tools/tool.js';
import { fileTools } from '../../src/agents/tools/workspace-files.js';
import { createLogger } from '../../src/observe/log.js';
import { operatorEvent } from './memory-context.js';

let root: string;
let workspace: string;
let outside: string;

beforeAll(() => {
  root = realpathSync(mkdtempSync(join(tmpdir(), 'agentd-tools-')));
  workspace = join(root, 'workspace');
  outside = join(root, 'outside');
  mkdirSync(join(workspace, 'src'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(workspace, 'src', 'main.ts'), 'export const x = 1;\n');
  writeFileSync(join(outside, 'secret.txt'), 'TOP SECRET');
  symlinkSync(join(outside, 'secret.txt'), join(workspace, 'leak.txt'));
  symlinkSync(outside, join(workspace, 'escape'));
  symlinkSync(join(workspace, 'src', 'main.ts'), join(workspace, 'alias.ts'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function context(signal = new AbortController().signal): ToolContext {
  return {
    event: operatorEvent('demo.tools', {}),
    workspace,
    signal,
    log: createLogger({ level: 'silent' }),
    emit: () => 'unused',
  };
}

async function call(tool: AgentTool | undefined, input: unknown): Promise<ToolOutput> {
  if (tool === undefined) throw new Error('no such tool');
  return tool.run(input, context());
}

const files = fileTools({ write: true, maxReadBytes: 16 });
const byName = (name: string) => files.find((t) => t.name === name);

describe('workspace file tools', () => {
  it('reads a file inside the workspace, capped with a note on how to read on', async () => {
    const out = await call(byName('read_file'), { path: 'src/main.ts' });
    expect(out.content).toContain('export const x =');
    expect(out.content).toContain('[truncated: 4 more bytes; read again with offset 16]');
    expect((await call(byName('read_file'), { path: 'src/main.ts', offset: 16 })).content).toBe(
      ' 1;\n',
    );
  });

  it.each([
    ['a ../ traversal', '../../etc/passwd'],
    ['an absolute path', '/etc/passwd'],
    ['a traversal that comes back through a sibling', 'src/../../outside/secret.txt'],
  ])('refuses %s', async (_what, path) => {
    await expect(call(byName('read_file'), { path })).rejects.toMatchObject({
      name: 'ToolRefusedError',
      message: expect.stringContaining('outside the workspace') as string,
    });
  });

  it('refuses a symlink that leads out of the workspace, for a file and for a directory', async () => {
    await expect(call(byName('read_file'), { path: 'leak.txt' })).rejects.toThrow(
      /leads through a symlink to outside the workspace/,
    );
    await expect(call(byName('read_file'), { path: 'escape/secret.txt' })).rejects.toThrow(
      /leads through a symlink to outside the workspace/,
    );
    await expect(call(byName('list_files'), { path: 'escape' })).rejects.toThrow(/symlink/);
  });

  it('follows a symlink that stays inside the workspace', async () => {
    expect((await call(byName('read_file'), { path: 'alias.ts' })).content).toContain('export');
  });

  it('writes inside the workspace, creating directories, and never through a symlink out', async () => {
    await call(byName('write_file'), { path: 'out/deep/report.md', content: '# ok' });
    expect(readFileSync(join(workspace, 'out/deep/report.md'), 'utf8')).toBe('# ok');
    await expect(
      call(byName('write_file'), { path: 'escape/planted.txt', content: 'x' }),
    ).rejects.toThrow(/symlink to outside/);
    await expect(call(byName('write_file'), { path: 'leak.txt', content: 'x' })).rejects.toThrow(
      /symlink to outside/,
    );
    await expect(call(byName('write_file'), { path: '../x.txt', content: 'x' })).rejects.toThrow(
      /outside the workspace/,
    );
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('TOP SECRET');
  });

  it('lists the workspace, marking directories and not entering symlinked ones', async () => {
    const out = await call(byName('list_files'), { recursive: true });
    expect(out.content.split('\n')).toEqual(
      expect.arrayContaining(['alias.ts', 'escape', 'src/', 'src/main.ts']) as string[],
    );
    expect(out.content).not.toContain('secret');
  });

  it('offers write_file only when write is enabled', () => {
    expect(fileTools({}).map((t) => t.name)).toEqual(['read_file', 'list_files']);
  });
});

describe('run_command', () => {
  const shell = shellTool({
    allow: ['node', 'ls', 'env'],
    timeoutMs: 500,
    maxOutputBytes: 1_000,
  });

  it('runs an allowlisted program in the workspace without a shell', async () => {
    const out = await call(shell, { command: 'ls', args: ['src'] });
    expect(out).toEqual({ content: 'exit code 0\nstdout:\nmain.ts' });
    const glob = await call(shell, { command: 'ls', args: ['*.ts'] });
    expect(glob.isError).toBe(true);
  });

  it('refuses programs off the allowlist and paths to programs', async () => {
    await expect(call(shell, { command: 'rm', args: ['-rf', '/'] })).rejects.toMatchObject({
      name: 'ToolRefusedError',
      message: expect.stringContaining('"rm" is not on the allowlist') as string,
    });
    await expect(call(shell, { command: '/bin/ls' })).rejects.toThrow(/not on the allowlist/);
  });

  it('kills a command that runs past its timeout', async () => {
    const started = Date.now();
    const out = await call(shell, { command: 'node', args: ['-e', 'setTimeout(() => {}, 10000)'] });
    expect(out.isError).toBe(true);
    expect(out.content).toContain('killed after 500 ms (timeout)');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('stops a command whose output passes the cap', async () => {
    // A longer timeout than the suite's, so a slow start on a busy machine cannot win the race.
    const patient = shellTool({ allow: ['node'], timeoutMs: 20_000, maxOutputBytes: 1_000 });
    const out = await call(patient, {
      command: 'node',
      args: ['-e', 'process.stdout.write("y".repeat(1e6)); setInterval(() => {}, 1000)'],
    });
    expect(out.isError).toBe(true);
    expect(out.content).toContain('stopped: output passed 1000 bytes');
    // stdout and stderr are capped each.
    expect(out.content.length).toBeLessThan(2_200);
  });

  it('does not pass the daemon environment (API keys) to commands', async () => {
    process.env.ANTHROPIC_API_KEY = 'sk-must-not-leak';
    try {
      const out = await call(shell, { command: 'env' });
      expect(out.content).toContain('PATH=');
      expect(out.content).not.toContain('sk-must-not-leak');
    } finally {
      delete process.env.ANTHROPIC_API_KEY;
    }
  });
});

describe('fetch_url', () => {
  let server: Server;
  let base: string;
  const seenAuth: (string | undefined)[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      seenAuth.push(req.headers.authorization);
      if (req.url === '/redirect-out') {
        res.writeHead(302, { location: 'http://example.invalid/steal' }).end();
      } else if (req.url === '/redirect-in') {
        res.writeHead(302, { location: '/data' }).end();
      } else if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('z'.repeat(5_000));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const tool = () =>
    fetchTool({
      allowHosts: ['127.0.0.1'],
      headers: { '127.0.0.1': { authorization: 'Bearer config-token' } },
      maxBytes: 1_000,
    });

  it('fetches from an allowed host with the configured headers, which the model cannot set', async () => {
    seenAuth.length = 0;
    const out = await call(tool(), {
      url: `${base}/data`,
      headers: { authorization: 'Bearer model-token' },
    });
    expect(out.content).toBe('HTTP 200 OK\ncontent-type: application/json\n\n{"ok":true}');
    expect(seenAuth).toEqual(['Bearer config-token']);
    expect(out.content).not.toContain('config-token');
  });

  it('refuses hosts off the allowlist, other schemes and redirects that leave it', async () => {
    await expect(call(tool(), { url: 'https://evil.example/x' })).rejects.toThrow(
      /host evil.example is not on the allowlist/,
    );
    await expect(call(tool(), { url: 'file:///etc/passwd' })).rejects.toThrow(/scheme file:/);
    await expect(call(tool(), { url: `${base}/redirect-out` })).rejects.toThrow(
      /host example.invalid is not on the allowlist/,
    );
    expect((await call(tool(), { url: `${base}/redirect-in` })).content).toContain('{"ok":true}');
  });

  it('refuses methods not enabled and caps the body', async () => {
    await expect(call(tool(), { url: `${base}/data`, method: 'POST' })).rejects.toThrow(
      /method POST is not allowed/,
    );
    const out = await call(tool(), { url: `${base}/big` });
    expect(out.content).toContain('[truncated at 1000 bytes]');
  });
});
