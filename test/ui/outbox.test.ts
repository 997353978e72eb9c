// The dashboard's Outbox page in a real browser: an action waiting for approval is listed, the
// read-only token cannot act on it, the admin approves it and sees it sent with what the sink
// answered; a dead action shows every attempt's error. Screenshots go to test-results/outbox/.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { on } from '../../src/core/route.js';
import { startRecordingServer, type RecordingServer } from '../fixtures/recording-server.js';
import { postEvents, startTestDaemon, type TestDaemon } from '../observe/observe-harness.js';
import { browserAvailable, newPage, openBrowser, type BrowserSession } from './browser.js';

const READ_ONLY = 'read-only-token-0123456789';
let d: TestDaemon;
let hook: RecordingServer;
let session: BrowserSession;
let page: Page;

async function signIn(target: Page, token: string): Promise<void> {
  await target.goto(`${d.url}/ui/#token=${encodeURIComponent(token)}`);
  await target.getByRole('heading', { name: 'Events' }).waitFor();
  await target.getByRole('link', { name: 'Outbox' }).click();
  await target.getByRole('heading', { name: 'Outbox' }).waitFor();
}

describe.runIf(browserAvailable)('the outbox page', () => {
  beforeAll(async () => {
    hook = await startRecordingServer(() => ({ status: 500, body: { error: 'down for repairs' } }));
    d = await startTestDaemon({
      server: { readOnlyToken: READ_ONLY },
      outbox: {
        http: { targets: { deploys: { url: `${hook.url}/deploys` } } },
        maxAttempts: 2,
        backoff: { initialMs: 10, maxMs: 20 },
      },
      routes: [
        on<{ version: string }>('demo.release', {
          name: 'announce',
          handler: (event, ctx) => {
            const version = event.data?.version ?? '?';
            ctx.outbox.bus.publish(
              { type: 'demo.announced', data: { text: `Released ${version}` } },
              { approval: true },
            );
            ctx.outbox.http.post({ target: 'deploys', body: { version } });
          },
        }),
      ],
    });
    session = await openBrowser('outbox');
    page = session.page;
  });

  afterAll(async () => {
    await session?.browser.close();
    await d?.stop();
    await hook?.close();
  });

  it('lists an action waiting for approval', async () => {
    await signIn(page, d.token);
    await page.getByText('The outbox is empty').waitFor();
    await postEvents(d, [{ type: 'demo.release', id: 'release-1', data: { version: '1.2.0' } }]);
    await page.getByLabel('state').selectOption('pending-approval');
    const row = page.locator('tr', { hasText: 'bus.publish' });
    await row.getByText('pending-approval').waitFor();
    await row.getByText('waiting for approval until').waitFor();
    await session.shot('pending-approval');
  });

  it('does not let the read-only token approve or reject', async () => {
    const reader = await newPage(session.browser);
    try {
      await signIn(reader, READ_ONLY);
      const row = reader.locator('tr', { hasText: 'bus.publish' });
      await row.getByText('pending-approval').waitFor();
      expect(await row.getByRole('button', { name: 'Approve' }).isDisabled()).toBe(true);
      expect(await row.getByRole('button', { name: 'Reject' }).isDisabled()).toBe(true);
      await session.shot('read-only', reader);
    } finally {
      await reader.close();
    }
  });

  it('approves the action and shows it sent, with what the sink answered', async () => {
    const row = page.locator('tr', { hasText: 'bus.publish' });
    await row.getByRole('button', { name: 'Approve' }).click();
    await page.getByText(/^Approved bus\.publish \d+\.$/).waitFor();
    await page.getByText('No pending-approval actions').waitFor();
    await page.getByLabel('state').selectOption('done');
    const done = page.locator('tr', { hasText: 'bus.publish' });
    await done.getByText('done').waitFor();
    await done.getByText('type: demo.announced').waitFor();
    await done.click();
    await page.locator('.outbox-detail').getByText('What the sink answered').waitFor();
    await page.locator('.outbox-detail pre', { hasText: '"demo.announced"' }).first().waitFor();
    await session.shot('approved-sent');
  });

  it('shows a dead action with every attempt’s error, ready to retry', async () => {
    await page.getByLabel('state').selectOption('dead');
    const row = page.locator('tr', { hasText: 'http.post' });
    await row.getByText('dead').waitFor();
    await row.getByText(/failed 2 of 2 attempts/).waitFor();
    expect(await row.getByRole('button', { name: 'Retry' }).isEnabled()).toBe(true);
    await row.click();
    const errors = page.locator('.outbox-detail ol.errors li');
    await errors.nth(1).waitFor();
    expect(await errors.count()).toBe(2);
    await page.locator('.outbox-detail').getByText('HTTP 500').first().waitFor();
    await session.shot('dead');
  });
});
