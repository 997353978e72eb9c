// Debian's Chromium driven by playwright-core for the dashboard tests (no browser download): one
// launch per test file, screenshots under test-results/<name>/ for review.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { DEFAULT_UI_DIR } from '../../src/server/ui-static.js';

export const CHROMIUM = '/usr/bin/chromium';

/** False (and said once) where Chromium is missing; CI must have it. */
export const browserAvailable = existsSync(CHROMIUM);
if (!browserAvailable) {
  if (process.env.CI === 'true')
    throw new Error(`${CHROMIUM} is missing: CI must install it (apt-get install -y chromium)`);
  process.stdout.write('skipped: chromium not installed (apt-get install -y chromium)\n');
}

export interface BrowserSession {
  browser: Browser;
  page: Page;
  /** Saves a screenshot of `page` (or the page given) as <name>.png and returns its path. */
  shot(name: string, of?: Page): Promise<string>;
}

export async function openBrowser(shotsDir: string): Promise<BrowserSession> {
  if (!existsSync(join(DEFAULT_UI_DIR, 'index.html')))
    throw new Error(`${DEFAULT_UI_DIR} is not built: run npm run build first`);
  const shots = join(process.cwd(), 'test-results', shotsDir);
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  const page = await newPage(browser);
  return {
    browser,
    page,
    async shot(name, of = page) {
      const path = join(shots, `${name}.png`);
      await of.screenshot({ path });
      return path;
    },
  };
}

/** A laptop-sized page whose waits give up after 10 s. */
export async function newPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
  page.setDefaultTimeout(10_000);
  return page;
}
