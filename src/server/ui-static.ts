// The dashboard at /ui: the files `npm run build` put in dist/ui, served from memory. Hashed
// assets are cached for good; index.html never, so a rebuilt dashboard shows on reload.
import type { Hono } from 'hono';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/ui, from src/server (tsx, tests) and from dist/server (the build) alike. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

// The dashboard talks to this origin only; nothing loads from anywhere else.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

interface UiFile {
  body: Buffer;
  type: string;
}

export function mountDashboard(app: Hono, dir = DEFAULT_UI_DIR): void {
  let files: Map<string, UiFile> | undefined;
  // Read once; re-read while there is nothing yet, so a build made after start shows up.
  const load = () => {
    if (files === undefined || files.size === 0) files = readTree(dir);
    return files;
  };

  app.get('/ui', (c) => c.redirect('/ui/', 301));
  app.get('/ui/*', (c) => {
    const all = load();
    const index = all.get('index.html');
    if (index === undefined)
      return c.text('the dashboard is not built: run npm run build (it builds dist/ui)', 503);
    const path = decodeURIComponent(c.req.path.slice('/ui/'.length));
    const file = all.get(path);
    // Unknown paths get the app itself: the dashboard routes in the browser.
    const served = file ?? index;
    const immutable = file !== undefined && path.startsWith('assets/');
    return c.body(new Uint8Array(served.body), 200, {
      'content-type': served.type,
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      ...SECURITY_HEADERS,
    });
  });
}

function readTree(dir: string): Map<string, UiFile> {
  const files = new Map<string, UiFile>();
  if (!existsSync(dir)) return files;
  const walk = (current: string) => {
    for (const name of readdirSync(current)) {
      const path = join(current, name);
      if (statSync(path).isDirectory()) walk(path);
      else
        files.set(relative(dir, path).split('\\').join('/'), {
          body: readFileSync(path),
          type: TYPES[extname(name)] ?? 'application/octet-stream',
        });
    }
  };
  walk(dir);
  return files;
}
