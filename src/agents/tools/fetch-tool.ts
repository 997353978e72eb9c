// fetch_url: HTTP(S) requests to an allowlist of hosts. Redirects are followed by hand so every hop
// is checked against the allowlist; configured per-host headers (tokens) are never shown to the model.
import { z } from 'zod';
import { ToolRefusedError } from '../agent-errors.js';
import { toolFromZod, ToolReply, type AgentTool } from './tool.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
type Method = (typeof METHODS)[number];

export interface FetchToolOptions {
  /** `api.github.com`, `*.githubusercontent.com` (subdomains), `127.0.0.1:8080` (that port only). */
  allowHosts: string[];
  /** Default `['GET']`. */
  methods?: Method[];
  /** Headers added for a host (e.g. an Authorization token), keyed like allowHosts entries. */
  headers?: Record<string, Record<string, string>>;
  /** Largest response body returned. Default 256 KiB. */
  maxBytes?: number;
  /** Per request, redirects included. Default 30 s. */
  timeoutMs?: number;
}

// Headers the model may not set: credentials come only from the config.
const RESERVED = new Set(['authorization', 'cookie', 'proxy-authorization', 'host']);
const MAX_REDIRECTS = 5;

export function hostMatcher(allow: readonly string[]): (url: URL) => string | undefined {
  return (url) =>
    allow.find((raw) => {
      const entry = raw.toLowerCase();
      // An entry with a port matches that port only; without one, any port of that host.
      const subject = /:\d+$/.test(entry) ? url.host : url.hostname;
      return entry.startsWith('*.') ? subject.endsWith(entry.slice(1)) : subject === entry;
    });
}

export function fetchTool(options: FetchToolOptions): AgentTool {
  const allowed = hostMatcher(options.allowHosts);
  const methods = new Set<Method>(options.methods ?? ['GET']);
  const maxBytes = options.maxBytes ?? 256 * 1024;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const check = (raw: string): { url: URL; entry: string } => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ToolRefusedError(`"${raw}" is not an absolute URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new ToolRefusedError(`scheme ${url.protocol} is not allowed (http and https only)`);
    }
    const entry = allowed(url);
    if (entry === undefined) {
      throw new ToolRefusedError(
        `host ${url.host} is not on the allowlist (${options.allowHosts.join(', ')})`,
      );
    }
    return { url, entry };
  };
  return toolFromZod(
    {
      name: 'fetch_url',
      description: `Makes an HTTP request and returns the status, content type and body (at most ${maxBytes} bytes). Allowed hosts: ${options.allowHosts.join(', ')}. Methods: ${[...methods].join(', ')}.`,
      input: z.object({
        url: z.string().min(1),
        method: z.enum(METHODS).optional(),
        headers: z.record(z.string(), z.string()).optional(),
        body: z.string().optional(),
      }),
      run: async ({ url: raw, method = 'GET', headers = {}, body }, ctx) => {
        if (!methods.has(method)) throw new ToolRefusedError(`method ${method} is not allowed`);
        const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(timeoutMs)]);
        let target = check(raw);
        for (let hop = 0; ; hop++) {
          const sent: Record<string, string> = {};
          for (const [name, value] of Object.entries(headers)) {
            if (!RESERVED.has(name.toLowerCase())) sent[name] = value;
          }
          Object.assign(sent, options.headers?.[target.entry] ?? {});
          const response = await fetch(target.url, {
            method,
            headers: sent,
            redirect: 'manual',
            signal,
            ...(body === undefined || method === 'GET' || method === 'HEAD' ? {} : { body }),
          });
          const location = response.headers.get('location');
          if (response.status >= 300 && response.status < 400 && location !== null) {
            await response.body?.cancel();
            if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
            target = check(new URL(location, target.url).href);
            continue;
          }
          const text = await readCapped(response, maxBytes);
          const type = response.headers.get('content-type') ?? 'unknown';
          return new ToolReply(
            `HTTP ${response.status} ${response.statusText}\ncontent-type: ${type}\n\n${text}`,
            response.status >= 400,
          );
        }
      },
    },
    'network',
    true,
  );
}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  if (response.body === null) return '';
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > maxBytes) {
      chunks.push(value.subarray(0, maxBytes - size));
      truncated = true;
      await reader.cancel();
      break;
    }
    chunks.push(value);
    size += value.byteLength;
  }
  const text = new TextDecoder().decode(Buffer.concat(chunks));
  return truncated ? `${text}\n[truncated at ${maxBytes} bytes]` : text;
}
