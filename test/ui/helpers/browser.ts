// Debian's chromium (scripts/setup.d/10-apt.sh) driven by playwright-core: no browser download.
// Flags: headless as root without a sandbox, and nothing that reaches out to the network (this
// machine's network is closed; Chromium's background fetches would only fail, many at a time).
// launch() starts it on a fresh, empty profile of its own (a new --user-data-dir in a temp dir,
// removed on close), so no state carries over between runs.
import type { ExecutionContext } from 'ava';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { TestServer } from '../../helpers/server.ts';

export const CHROMIUM = process.env['NETIMAGE_CHROMIUM'] ?? '/usr/bin/chromium';

export async function launchBrowser(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

/** Fill the web UI's sign-in form and submit it (the page shows the form). */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** A user made through the admin API, then a fresh browser's page signed in as them (closed when the test ends). */
export async function signedInPage(t: ExecutionContext, ts: TestServer, user: { name: string; role: 'admin' | 'operator'; groups?: string[]; password: string }): Promise<Page> {
  const made = await ts.api('POST', '/api/v1/users', user);
  t.is(made.status, 201, made.text);
  const { browser, close } = await launchBrowser();
  t.teardown(close);
  const page = await browser.newPage();
  await page.goto(ts.url + '/');
  await signIn(page, user.name, user.password);
  return page;
}
