// The web UI when a URL names a room or PC other than the one on screen, or one that does not
// exist (a bookmark of a removed room, a typo, the back button): the page shows that room or PC or
// says it does not exist, never the previous one's PCs and actions under the new name. A real
// browser (Debian's chromium through playwright-core) against the real server; no PCs needed.
import test from 'ava';
import { issueJob, startTestServer } from '../helpers/server.ts';
import { formatInZone, processTimeZone } from '../../lib/zoned-time.ts';
import { launchBrowser, signedInPage } from './helpers/browser.ts';

const PASSWORD = 'correct horse battery';

test('a room or PC that does not exist says so, with no actions and nothing of the page before', async (t) => {
  const ts = await startTestServer({ overrides: { 'auth.scryptLog2N': 10 } });
  t.teardown(() => ts.stop());
  t.is((await ts.api('POST', '/api/v1/groups', { id: 'room101' })).status, 201);
  t.is((await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: '52:54:00:17:00:01', group: 'room101' })).status, 201);
  const page = await signedInPage(t, ts, { name: 'ann', role: 'admin', password: PASSWORD });
  await page.getByRole('link', { name: 'room101' }).click();
  await page.locator('a.tile[data-client=pc01]').waitFor();

  await page.goto(ts.url + '/#/room/room1O1');
  await page.getByRole('alert').waitFor();
  t.regex((await page.getByRole('alert').textContent()) ?? '', /group room1O1 not found/);
  t.is(await page.locator('a.tile').count(), 0, "room101's PCs are not shown under another room's name");
  t.is(await page.getByRole('button', { name: 'Restore…' }).count(), 0, 'no actions for a room that does not exist');

  await page.goto(ts.url + '/#/client/pc01');
  await page.getByRole('heading', { name: 'pc01' }).waitFor();
  await page.goto(ts.url + '/#/client/pc0l');
  await page.getByRole('alert').waitFor();
  t.regex((await page.getByRole('alert').textContent()) ?? '', /client pc0l not found/);
  t.is(await page.getByRole('heading', { name: 'pc01' }).count(), 0, "pc01's page is gone");
  t.is(await page.getByText('52:54:00:17:00:01').count(), 0, "pc01's MAC is not shown for pc0l");
  t.is(await page.getByRole('button', { name: 'Restore…' }).count(), 0, 'no actions for a PC that does not exist');

  // The back button returns to the room, showing it (hash routes: no reload, no stale page).
  await page.goBack();
  await page.getByRole('heading', { name: 'pc01' }).waitFor();
  await page.goBack();
  await page.goBack();
  await page.locator('a.tile[data-client=pc01]').waitFor();
  t.regex((await page.getByRole('heading', { level: 1 }).textContent()) ?? '', /^room101/);
});

test("a room operator is offered only what their role allows: restore, back up and wake in their rooms, nothing in another's", async (t) => {
  const ts = await startTestServer({ overrides: { 'auth.scryptLog2N': 10 } });
  t.teardown(() => ts.stop());
  for (const id of ['room101', 'room102']) t.is((await ts.api('POST', '/api/v1/groups', { id })).status, 201);
  t.is((await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: '52:54:00:17:00:01', group: 'room101' })).status, 201);
  t.is((await ts.api('POST', '/api/v1/clients', { id: 'pc03', mac: '52:54:00:17:00:03', group: 'room102' })).status, 201);
  const page = await signedInPage(t, ts, { name: 'olga', role: 'operator', groups: ['room101'], password: PASSWORD });
  await page.getByRole('link', { name: 'room101' }).click();
  await page.getByRole('button', { name: 'Restore…' }).waitFor();
  const offered = async () => (await page.locator('.actions button, .actions select').allTextContents()).map((s) => s.trim());
  t.deepEqual(await offered(), ['Restore…', 'Back up…', 'Wake'], 'in her room: what an operator may do, no prepare, OS install or image deletion');

  // Another room, and a PC of it opened by URL: she may look, and is told why there are no actions.
  for (const [url, text] of [
    ['/#/room/room102', /^Room room102 is not one of your rooms \(your rooms: room101\): you can look here, an admin can act\.$/],
    ['/#/client/pc03', /^pc03 is in room room102, which is not one of your rooms \(your rooms: room101\)/],
  ] as const) {
    await page.goto(ts.url + url);
    await page.getByTestId('not-mine').waitFor();
    t.regex((await page.getByTestId('not-mine').textContent()) ?? '', text, url);
    t.deepEqual(await offered(), [], `${url}: no action buttons`);
  }
  await page.goto(ts.url + '/#/client/pc01');
  await page.getByRole('button', { name: 'Back up…' }).waitFor();
  t.deepEqual(await offered(), ['Restore…', 'Back up…', 'Wake'], 'a PC of her room');
});

test("times show in the server's zone with its offset, as the CLI shows them, whatever the browser's zone and language", async (t) => {
  const ts = await startTestServer({ overrides: { 'auth.scryptLog2N': 10 } });
  t.teardown(() => ts.stop());
  t.is((await ts.api('POST', '/api/v1/groups', { id: 'room101' })).status, 201);
  const job = await issueJob(ts, { clientId: 'pc01', mac: '52:54:00:17:00:01', productId: 'hwinvent', group: 'room101' });
  const created = ((await ts.api('GET', '/api/v1/jobs?client=pc01')).body as { id: string; created: string }[]).find((j) => j.id === job.jobId)!.created;
  const serverText = formatInZone(created, processTimeZone());
  const { browser, close } = await launchBrowser();
  t.teardown(close);
  // A laptop half a world away from the server, in German.
  const context = await browser.newContext({ timezoneId: processTimeZone() === 'Pacific/Chatham' ? 'America/Anchorage' : 'Pacific/Chatham', locale: 'de-DE' });
  const page = await context.newPage();
  await page.goto(ts.url + '/');
  await page.getByRole('button', { name: 'Use the admin token instead' }).click();
  await page.getByLabel('Admin token').fill(ts.adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.goto(ts.url + '/#/client/pc01');
  const row = page.locator(`[data-job-row="${job.jobId}"]`);
  await row.waitFor();
  t.regex(serverText, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d$/);
  t.true(((await row.textContent()) ?? '').includes(serverText), `${await row.textContent()} shows ${serverText}`);
});

test('a 63-character PC and room name stays inside its tile, heading and page, also at phone width', async (t) => {
  const ts = await startTestServer({ overrides: { 'auth.scryptLog2N': 10 } });
  t.teardown(() => ts.stop());
  const room = 'r'.repeat(63);
  const pc = 'pc-' + 'x'.repeat(60);
  t.is((await ts.api('POST', '/api/v1/groups', { id: room })).status, 201);
  t.is((await ts.api('POST', '/api/v1/clients', { id: pc, mac: '52:54:00:17:00:09', group: room })).status, 201);
  t.is((await ts.api('POST', '/api/v1/clients', { id: 'pc02', mac: '52:54:00:17:00:02', group: room })).status, 201);
  const { browser, close } = await launchBrowser();
  t.teardown(close);
  for (const viewport of [{ width: 1100, height: 760 }, { width: 390, height: 844 }]) {
    const page = await browser.newPage({ viewport });
    await page.goto(ts.url + '/');
    await page.getByRole('button', { name: 'Use the admin token instead' }).click();
    await page.getByLabel('Admin token').fill(ts.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    for (const url of [`/#/room/${room}`, `/#/client/${pc}`]) {
      await page.goto(ts.url + url);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.waitForTimeout(300);
      const overflow = (await page.evaluate(`[...document.querySelectorAll('a.tile, h1, .crumbs')].filter((e) => e.scrollWidth > e.clientWidth + 1).map((e) => e.className || e.tagName)`)) as string[];
      t.deepEqual(overflow, [], `${viewport.width}px ${url}: nothing sticks out of its box`);
      t.true(((await page.evaluate('document.documentElement.scrollWidth')) as number) <= viewport.width, `${viewport.width}px ${url}: no sideways scrolling`);
    }
    await page.close();
  }
});

test('the server not answering (stopped, network down) is said in words, not as "Failed to fetch"', async (t) => {
  const ts = await startTestServer({ overrides: { 'auth.scryptLog2N': 10 } });
  t.teardown(() => ts.stop());
  t.is((await ts.api('POST', '/api/v1/groups', { id: 'room101' })).status, 201);
  t.is((await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: '52:54:00:17:00:01', group: 'room101' })).status, 201);
  const { browser, close } = await launchBrowser();
  t.teardown(close);
  const page = await browser.newPage();
  await page.goto(ts.url + '/');
  await page.getByRole('button', { name: 'Use the admin token instead' }).click();
  await page.getByLabel('Admin token').fill(ts.adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'room101' }).click();
  await page.getByRole('button', { name: 'Wake' }).waitFor();
  // The server gone as the browser sees it: every API request refused at the TCP level.
  await page.route('**/api/**', (route) => route.abort('connectionrefused'));
  await page.getByRole('button', { name: 'Wake' }).click();
  const alert = page.getByRole('alert').first();
  await alert.waitFor();
  t.regex((await alert.textContent()) ?? '', /^The netimage server does not answer \(stopped, restarting, or the network between is down\)/);
  t.notRegex((await page.locator('body').textContent()) ?? '', /Failed to fetch/);
});
