// The dashboard in a real browser (Debian's Chromium driven by playwright-core): sign in, see an
// emitted event arrive live, open a failed run and read its error, replay it from the DLQ and see
// it succeed, search by key. Screenshots go to test-results/dashboard/ for review.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../src/core/errors.js';
import { on } from '../../src/core/route.js';
import { postEvents, startTestDaemon, type TestDaemon } from '../observe/observe-harness.js';
import { browserAvailable, openBrowser, type BrowserSession } from './browser.js';

const catalog = new Set(['tea']);
let d: TestDaemon;
let session: BrowserSession;
let page: Page;

const shot = (name: string) => session.shot(name);

describe.runIf(browserAvailable)('the dashboard', () => {
  beforeAll(async () => {
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
        on<{ ticket: string }>('demo.deploy', {
          name: 'deployer',
          handler: async (event, ctx) => {
            await ctx.waitForEvent('demo.approved', {
              match: { data: { ticket: event.data?.ticket } },
            });
            await ctx.step('ship', () => 'shipped');
          },
        }),
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
    session = await openBrowser('dashboard');
    page = session.page;
  });

  afterAll(async () => {
    await session?.browser.close();
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

  it('shows a parked run waiting for its event, then resuming when it comes', async () => {
    await postEvents(d, [{ type: 'demo.deploy', id: 'deploy-1', data: { ticket: 'T-1' } }]);
    await page.getByRole('link', { name: 'Runs' }).click();
    await page.getByLabel('status').selectOption('waiting');
    const row = page.locator('tr', { hasText: 'deployer' });
    await row.getByText('waiting').waitFor();
    await row.click();
    const callout = page.locator('.callout-wait');
    await callout.getByText('demo.approved', { exact: true }).waitFor();
    await callout.getByText('{"data":{"ticket":"T-1"}}').waitFor();
    await callout.getByText('no deadline').waitFor();
    await shot('run-waiting');
    await postEvents(d, [{ type: 'demo.approved', data: { ticket: 'T-1' } }]);
    await page.locator('.page-head .status-completed').waitFor();
    await page.getByText('ship', { exact: true }).waitFor();
    expect(await callout.count()).toBe(0);
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

  it('searches by partition key, and says so when nothing matches', async () => {
    await page.getByLabel('search').fill('user-1');
    await page.getByLabel('search').press('Enter');
    // The events page listed user-0..2 before: wait for the search's answer to replace them (a
    // poll from here: the dashboard's CSP forbids the string evaluation waitForFunction uses).
    const rows = page.locator('table.events tbody tr');
    for (const deadline = Date.now() + 10_000; (await rows.count()) !== 1;) {
      if (Date.now() > deadline) throw new Error('the search did not narrow the list to one event');
      await page.waitForTimeout(50);
    }
    await page.locator('tr', { hasText: 'user-1' }).getByText('demo.hello').waitFor();
    expect(await page.locator('table.events tbody tr').count()).toBe(1);
    await page.getByLabel('search').fill('no-such-thing');
    await page.getByLabel('search').press('Enter');
    await page.getByText('No event matches "no-such-thing"').waitFor();
    await shot('search-empty');
  });
});
