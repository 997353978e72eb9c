// The dashboard in a real browser (Debian's Chromium driven by playwright-core): sign in, see an
// emitted event arrive live, open a failed run and read its error, replay it from the DLQ and see
// it succeed. Screenshots go to test-results/dashboard/ for review.
import { existsSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../src/core/errors.js';
import { on } from '../../src/core/route.js';
import { DEFAULT_UI_DIR } from '../../src/server/ui-static.js';
import { postEvents, startTestDaemon, type TestDaemon } from '../observe/observe-harness.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(process.cwd(), 'test-results', 'dashboard');
const available = existsSync(CHROMIUM);
if (!available) {
  if (process.env.CI === 'true')
    throw new Error(`${CHROMIUM} is missing: CI must install it (apt-get install -y chromium)`);
  process.stdout.write('skipped: chromium not installed (apt-get install -y chromium)\n');
}

const catalog = new Set(['tea']);
let d: TestDaemon;
let browser: Browser;
let page: Page;

const shot = async (name: string) => {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
};

describe.runIf(available)('the dashboard', () => {
  beforeAll(async () => {
    if (!existsSync(join(DEFAULT_UI_DIR, 'index.html')))
      throw new Error(`${DEFAULT_UI_DIR} is not built: run npm run build first`);
    mkdirSync(SHOTS, { recursive: true });
    d = await startTestDaemon({
      node: 'laptop',
      routes: [
        on<{ name?: string }>('demo.hello', {
          name: 'welcome',
          handler: async (event, ctx) => {
            const text = await ctx.step('greet', () => `Hello, ${event.data?.name ?? 'world'}!`);
            ctx.emit({ type: 'demo.greeted', data: { text } });
          },
        }),
        on('demo.greeted', { name: 'greeted', handler: () => undefined }),
        on<{ item: string }>('demo.order', {
          name: 'orders',
          handler: async (event, ctx) => {
            await ctx.step('check-stock', () => ({ item: event.data?.item }));
            if (!catalog.has(event.data?.item ?? ''))
              throw new NonRetryableError(`unknown item "${event.data?.item}"`);
          },
        }),
      ],
    });
    browser = await chromium.launch({
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
    page = await browser.newPage({ viewport: { width: 1366, height: 800 } });
    page.setDefaultTimeout(10_000);
  });

  afterAll(async () => {
    await browser?.close();
    await d?.stop();
  });

  it('refuses a wrong token at sign-in', async () => {
    await page.goto(`${d.url}/ui/`);
    await page.getByLabel('token').fill('not-the-right-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('That token was not accepted').waitFor();
    await shot('sign-in-refused');
  });

  it('signs in with a link and shows an emitted event live, without a reload', async () => {
    await page.goto(`${d.url}/ui/#token=${encodeURIComponent(d.token)}`);
    await page.getByRole('heading', { name: 'Events' }).waitFor();
    await page.locator('.live-dot.on').waitFor();
    expect(page.url()).not.toContain(d.token);
    const navigations: string[] = [];
    page.on('framenavigated', (frame) => navigations.push(frame.url()));

    await postEvents(d, [{ type: 'demo.hello', id: 'hello-live', data: { name: 'Ada' } }]);
    const row = page.locator('tr', { hasText: 'demo.hello' });
    await row.waitFor();
    await row.getByText('welcome · completed').waitFor();
    await page
      .locator('tr', { hasText: 'demo.greeted' })
      .getByText('greeted · completed')
      .waitFor();
    expect(navigations).toEqual([]);
    await shot('events-live');
  });

  it('opens a failed run and shows its error', async () => {
    await postEvents(d, [
      { type: 'demo.order', id: 'order-coffee', partitionkey: 'cust-7', data: { item: 'coffee' } },
    ]);
    await page.getByRole('link', { name: 'Dead letters' }).click();
    const row = page.locator('tr', { hasText: 'demo.order' });
    await row.getByText('unknown item "coffee"').waitFor();
    await shot('dlq');
    await row.getByRole('link').first().click();
    await page.locator('.dead-reason', { hasText: 'unknown item "coffee"' }).waitFor();
    await page.locator('pre.error-text', { hasText: 'unknown item "coffee"' }).waitFor();
    await page.getByText('check-stock').waitFor();
    await shot('run-failed');
  });

  it('replays the dead letter from the DLQ and shows the run succeed', async () => {
    catalog.add('coffee');
    await page.getByRole('link', { name: 'Dead letters' }).click();
    await page
      .locator('tr', { hasText: 'demo.order' })
      .getByRole('button', { name: 'Replay' })
      .click();
    await page.getByText('Replayed 1 dead letter.').waitFor();
    await page.getByText('The dead-letter queue is empty').waitFor();
    await page.getByLabel('search').fill('order-coffee');
    await page.getByLabel('search').press('Enter');
    await page.getByRole('heading', { name: /demo\.order/ }).waitFor();
    const runs = page.locator('table.grid');
    await runs.getByText('completed').waitFor();
    await runs.getByText('replayed').waitFor();
    await shot('event-replayed');
  });

  it('shows the lineage tree and the routes', async () => {
    await page.getByLabel('search').fill('hello-live');
    await page.getByLabel('search').press('Enter');
    await page.locator('ul.tree').getByText('demo.greeted').waitFor();
    await shot('lineage');
    await page.getByRole('link', { name: 'Routes' }).click();
    await page.locator('tr', { hasText: 'orders' }).getByText('active').waitFor();
    await shot('routes');
    // The README's picture: the live feed with a little history.
    await postEvents(
      d,
      ['Grace', 'Alan', 'Barbara'].map((name, i) => ({
        type: 'demo.hello',
        id: `hello-${i}`,
        partitionkey: `user-${i}`,
        data: { name },
      })),
    );
    await page.getByRole('link', { name: 'Events' }).click();
    await page.locator('tr', { hasText: 'user-2' }).getByText('welcome · completed').waitFor();
    const path = await shot('events');
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1')
      copyFileSync(path, join(process.cwd(), 'docs', 'dashboard.png'));
  });
});
