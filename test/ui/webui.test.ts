// The web UI in a real browser (Debian's chromium, driven by playwright-core) against the real
// bootserver, with two PCs whose disks are loop devices and whose boot image is the imaging engine
// (test/ui/helpers/pc-run.ts). Before the browser: each PC is prepared and backed up (real
// partitions, filesystem, partclone image). In the browser: sign in (user session: cookie + CSRF),
// the rooms, a room restore with its confirmation, the bars following the real jobs, results and
// log, and refusals with the server's reason (409 no common image; 403 an operator whose room was
// taken away). Screenshots (light, dark, phone width) go to var/test-results/ui/, or to
// $NETIMAGE_UI_SCREENSHOTS (docs/images to refresh the admin guide's pictures).
import test, { type ExecutionContext } from 'ava';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { agentCall, parseNetbootConfig, readBootConfig, startTestServer, type TestServer } from '../helpers/server.ts';
import { addFakeMedia, EDITIONS } from '../windows/helpers/fake-media.ts';
import { helper, ROOT } from '../imaging/helpers/loop.ts';
import { launchBrowser, signIn } from './helpers/browser.ts';
import { TestPc } from './helpers/pc.ts';
import { bytes } from '../../ui/src/model.ts';
import { formatInZone, processTimeZone } from '../../lib/zoned-time.ts';

const PREPARE = 'opsi-local-image-prepare';
const BACKUP = 'opsi-local-image-backup';
const RESTORE = 'opsi-local-image-restore';
const IMAGE = 'room101-base';
const SHOTS = join(ROOT, process.env['NETIMAGE_UI_SCREENSHOTS'] ?? 'var/test-results/ui');
const PASSWORD = 'correct horse battery';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1100, height: 760 };

interface Shared {
  ts: TestServer;
  pcs: TestPc[];
  browser: Browser;
  page: Page;
}
let shared: Shared;
/** ava allows no t.teardown in hooks: what the shared set-up must undo, run by test.after.always. */
const cleanups: (() => Promise<unknown> | unknown)[] = [];
const hookContext = { teardown: (fn: () => unknown) => void cleanups.push(fn) } as unknown as ExecutionContext;

/** The admin sets a product for one PC over the API, and the PC runs it at its next boot. */
async function runOnPc(ts: TestServer, pc: TestPc, productId: string, properties: Record<string, unknown>) {
  const set = await ts.api('PUT', `/api/v1/clients/${pc.id}/products/${productId}/action`, { actionRequest: 'setup', properties });
  if (set.status !== 200) throw new Error(`${productId} for ${pc.id}: ${set.status} ${set.text}`);
  const outcome = await pc.boot(ts);
  if (outcome.result !== 'successful') throw new Error(`${productId} on ${pc.id} failed: ${outcome.error}`);
}

/**
 * hwinvent for a test PC. Stand-in: the real product (bootimage/agent/products/hwinvent.ts) reads
 * the machine it runs on, which here is the test host, not the PC; so the test uploads, with the
 * job's own token and through the agent API, an inventory describing the PC's loop disk.
 */
async function inventory(ts: TestServer, pc: TestPc) {
  await ts.api('PUT', `/api/v1/clients/${pc.id}/products/hwinvent/action`, { actionRequest: 'setup' });
  const job = parseNetbootConfig(await readBootConfig(ts, pc.mac, null))!;
  const disk = { name: pc.loop.path.replace('/dev/', ''), path: pc.loop.path, model: 'QEMU HARDDISK', serial: `QM-${pc.id}`, wwn: null, sizeBytes: 2048 * 1024 * 1024, rotational: false, transport: 'sata', logicalSectorSize: 512, physicalSectorSize: 512 };
  const body = {
    collectedAt: new Date().toISOString(),
    system: { manufacturer: 'QEMU', model: 'Standard PC (Q35 + ICH9, 2009)', serial: null, uuid: null },
    bios: { vendor: 'EFI Development Kit II / OVMF', version: '2022.11', firmware: 'uefi' },
    cpu: { model: 'QEMU Virtual CPU', cores: 2 },
    memoryBytes: 4 * 1024 ** 3,
    disks: [disk],
    nics: [{ name: 'enp0s2', mac: pc.mac, driver: 'e1000', speedMbps: 1000 }],
  };
  for (const [method, path, payload] of [['PUT', '/client/inventory', body], ['POST', '/job/result', { result: 'successful' }]] as const) {
    const r = await agentCall(ts.url, job.token, method, path, payload);
    if (r.status !== 200) throw new Error(`hwinvent ${path} for ${pc.id}: ${r.status} ${JSON.stringify(r.body)}`);
  }
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

test.after.always(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

test.before(async () => {
  await mkdir(SHOTS, { recursive: true });
  // A cheap KDF: the cost is the point of production, not of this test.
  const ts = await startTestServer({ overrides: { 'auth.scryptLog2N': 10 } });
  cleanups.push(() => ts.stop());
  await ts.api('POST', '/api/v1/groups', { id: 'room101', description: 'Physics lab, ground floor' });
  await ts.api('POST', '/api/v1/groups', { id: 'room102' });
  const pcs = [await TestPc.create(hookContext, 'pc01', '52:54:00:15:00:01'), await TestPc.create(hookContext, 'pc02', '52:54:00:15:00:02')];
  for (const pc of pcs) await ts.api('POST', '/api/v1/clients', { id: pc.id, mac: pc.mac, group: 'room101' });
  await ts.api('POST', '/api/v1/clients', { id: 'pc03', mac: '52:54:00:15:00:03', group: 'room102' });
  for (const user of [
    { name: 'alice', role: 'admin', password: PASSWORD },
    { name: 'olga', role: 'operator', groups: ['room101'], password: PASSWORD },
  ]) {
    const created = await ts.api('POST', '/api/v1/users', user);
    if (created.status !== 201) throw new Error(created.text);
  }
  // The browser starts while the PCs get their partitions, data and image.
  const [{ browser, close }] = await Promise.all([
    launchBrowser(),
    ...pcs.map(async (pc) => {
      await inventory(ts, pc);
      await runOnPc(ts, pc, PREPARE, { system_partition_size: '600M', winpe_partition_size: '0G', minimal_backup_partition_size: '50%', multi_disk_mode: '0', backup_partition_on_same_disk: true });
      // 360 MiB: the restore below lasts several of the agent's 1 s progress reports. With 120 MiB it
      // took one or two; the UI takes live events in 250 ms batches, so a report shortly before the
      // end was drawn together with the end and the bar never showed a value in between (1 in 2 runs
      // on a busy host).
      await helper(['fill', `${pc.loop.path}p3`, 'ext4', '360']);
      await runOnPc(ts, pc, BACKUP, { imagefile: IMAGE });
    }),
  ]);
  cleanups.push(close);
  const page = await browser.newPage({ viewport: DESKTOP });
  shared = { ts, pcs, browser, page };
});

test.serial('sign in and see each room as a grid of PCs with their last result', async (t) => {
  const { ts, page } = shared;
  await page.goto(ts.url + '/');
  await page.getByLabel('User name').waitFor();
  await shot(page, 'login');
  await signIn(page, 'alice', 'wrong password');
  await page.getByRole('alert').getByText('wrong user name or password').waitFor();
  await signIn(page, 'alice', PASSWORD);
  await page.getByRole('heading', { name: 'Rooms' }).waitFor();
  t.is(await page.locator('.who').textContent(), 'alice (admin)');
  for (const pc of ['pc01', 'pc02']) {
    const last = page.locator(`section[data-room=room101] a.tile[data-client=${pc}] .last`);
    await last.locator('.badge').waitFor();
    t.regex((await last.textContent()) ?? '', /backup succeeded/, `${pc}'s last result`);
  }
  t.is(await page.locator('section[data-room=room102] a.tile').count(), 1);
});

test.serial('restore a room: the confirmation names what is wiped on how many PCs, the bars follow the real jobs, then results and log', async (t) => {
  const { ts, page, pcs } = shared;
  // A full restore: the unchanged PCs would take a delta that trusts their file system's records
  // and ends in a fraction of a second, too quick for the bars this test follows.
  for (const pc of pcs) t.is((await ts.api('PUT', `/api/v1/clients/${pc.id}/products/${RESTORE}/properties`, { values: { restore_mode: 'full' } })).status, 200);
  await page.getByRole('link', { name: 'room101' }).click();
  await page.getByRole('heading', { name: /room101/ }).waitFor();
  await page.getByRole('button', { name: 'Restore…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText(`image ${IMAGE}`).first().waitFor();
  const wipe = (await dialog.getByTestId('wipe').textContent()) ?? '';
  t.regex(wipe, /wipes the system partition: everything on it is replaced by image room101-base on 2 PCs/);
  t.regex(wipe, /pc01, pc02/);
  const go = dialog.getByRole('button', { name: /Wipe and restore 2 PCs/ });
  t.true(await go.isDisabled(), 'nothing happens before the count is typed');
  await dialog.getByLabel('Type 2 to confirm').fill('1');
  t.true(await go.isDisabled(), 'a wrong count does not confirm');
  t.is((await ts.api('GET', '/api/v1/product-states?group=room101&product=' + RESTORE)).body.filter((s: any) => s.actionRequest === 'setup').length, 0);
  await dialog.getByLabel('Type 2 to confirm').fill('2');
  await shot(page, 'restore-confirm');
  await go.click();
  await page.getByRole('status').getByText(/set for 2 PCs of room101 \(image room101-base\)/).waitFor();
  const states = (await ts.api('GET', '/api/v1/product-states?group=room101&product=' + RESTORE)).body as any[];
  t.deepEqual(states.map((s) => [s.clientId, s.actionRequest]).sort(), [['pc01', 'setup'], ['pc02', 'setup']], 'the server has the restore pending for both');
  await page.locator('a.tile[data-client=pc01] .pending').getByText(/restore pending/).waitFor();

  // Record every value each PC's bar shows while the PCs boot and restore.
  await page.evaluate(`(() => {
    const seen = (window.__seen = {});
    const record = () => document.querySelectorAll('a.tile').forEach((tile) => {
      const v = tile.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow');
      if (v == null) return;
      const list = (seen[tile.getAttribute('data-client')] ??= []);
      if (list.at(-1) !== Number(v)) list.push(Number(v));
    });
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true });
  })()`);
  // A picture for the admin guide once a bar is well under way (not asserted: timing).
  let midShot: Promise<void> | null = null;
  const watch = setInterval(() => {
    midShot ??= page
      .evaluate(`[...document.querySelectorAll('[role=progressbar]')].some((b) => Number(b.getAttribute('aria-valuenow')) >= 20)`)
      .then((going) => (going ? shot(page, 'room-restoring') : Promise.reject(new Error('not yet'))))
      .catch(() => {
        midShot = null;
      });
  }, 150);
  const outcomes = await Promise.all(pcs.map((pc) => pc.boot(ts)));
  clearInterval(watch);
  await midShot;
  for (const o of outcomes) t.is(o.result, 'successful', o.error);
  for (const pc of pcs) {
    await page.locator(`a.tile[data-client=${pc.id}] .last[data-last=succeeded]`).getByText('restore succeeded').waitFor();
  }
  const seen = (await page.evaluate('window.__seen')) as Record<string, number[]>;
  for (const pc of pcs) {
    const values = seen[pc.id] ?? [];
    t.log(`${pc.id}'s bar: ${values.join(' ')}`);
    t.true(values.some((v) => v > 1 && v < 100), `${pc.id}'s bar showed the restore in between: ${values.join(' ')}`);
    t.deepEqual([...values].sort((a, b) => a - b), values, `${pc.id}'s bar only moved forward: ${values.join(' ')}`);
  }
  await shot(page, 'room-done');

  // The PC's own page: its image with size, date (the server's zone, as the CLI) and format as its
  // agent reported them, its jobs, and the restore's full log.
  await page.locator('a.tile[data-client=pc01]').click();
  await page.getByRole('heading', { name: 'pc01' }).waitFor();
  const row = page.locator(`tr[data-image="${IMAGE}"]`);
  await row.waitFor();
  t.regex((await row.textContent()) ?? '', /selected/);
  const [reported] = (await ts.api('GET', '/api/v1/clients/pc01/images')).body as { sizeBytes: number; createdAt: string; format: string }[];
  t.true(reported!.sizeBytes > 1024 * 1024 && Date.parse(reported!.createdAt) > Date.now() - 3600_000, JSON.stringify(reported));
  t.is(await row.locator('[data-col=size]').textContent(), bytes(reported!.sizeBytes));
  t.regex((await row.locator('[data-col=size]').textContent()) ?? '', /^\d+\.\d MiB$/);
  t.is(await row.locator('[data-col=created]').textContent(), formatInZone(reported!.createdAt, processTimeZone()), "the server's zone with its offset, as the CLI shows it");
  t.is(await row.locator('[data-col=format]').textContent(), 'chunked');
  const restoreJob = page.locator('.jobs li').filter({ hasText: 'restore succeeded' }).first();
  await restoreJob.getByRole('button').click();
  const log = restoreJob.locator('pre.log');
  await log.getByText(/restore done/).waitFor();
  t.regex((await log.textContent()) ?? '', /progress 100% restore done/);
  t.is(await page.locator('.jobs li').count(), 4, 'hwinvent, prepare, backup, restore');
  t.regex((await page.locator('table').filter({ hasText: 'QEMU HARDDISK' }).textContent()) ?? '', /2\.0 GiB.*QEMU HARDDISK.*SSD sata/, 'the disk from the inventory');
  await shot(page, 'client');
});

test.serial("a refused action shows the server's reason and changes nothing", async (t) => {
  const { ts, page } = shared;
  await page.goto(ts.url + '/#/room/room102');
  await page.getByRole('button', { name: 'Restore…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Type 1 to confirm').fill('1');
  await dialog.getByRole('button', { name: /Wipe and restore 1 PC/ }).click();
  await dialog.getByRole('alert').waitFor();
  t.regex((await dialog.getByRole('alert').textContent()) ?? '', /no image is present on every client of the group/);
  t.is((await ts.api('GET', `/api/v1/clients/pc03/products`)).body.find((s: any) => s.productId === RESTORE).actionRequest, 'none');
  await dialog.getByRole('button', { name: 'Cancel' }).click();

  // The PC itself: the dialog says it has no images, and the server's refusal names what it has.
  await page.goto(ts.url + '/#/client/pc03');
  await page.getByRole('button', { name: 'Restore…' }).click();
  await dialog.getByRole('option', { name: /its selected image \(pc03 has no images: none: back it up first or fetch a golden image\)/ }).waitFor({ state: 'attached' });
  await dialog.getByLabel('Type 1 to confirm').fill('1');
  await dialog.getByRole('button', { name: /Wipe and restore 1 PC/ }).click();
  await dialog.getByRole('alert').waitFor();
  const refusal = (await dialog.getByRole('alert').textContent()) ?? '';
  t.regex(refusal, /pc03 has no image to restore; its images: none: back it up first with opsi-local-image-backup, or fetch a golden image from the server's depot with server_image=<name>/);
  // Worded for this dialog: where its golden choice is, no CLI command.
  t.regex(refusal, /Here: under "Restore from", choose "A golden image from the server"\.$/);
  t.notRegex(refusal, /netimage /);
  t.is((await ts.api('GET', `/api/v1/clients/pc03/products`)).body.find((s: any) => s.productId === RESTORE).actionRequest, 'none');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
});

test.serial('install Windows on a PC: the dialog offers the images the depot has for the product; the chosen one is set', async (t) => {
  const { ts, page } = shared;
  const WIN11 = 'opsi-local-image-win11-x64';
  await addFakeMedia(ts.server.osImages.depot, WIN11);
  const props = { productkey: '', administrator_password: 'Pa55word!', language: 'de-DE' };
  t.is((await ts.api('PUT', `/api/v1/clients/pc03/products/${WIN11}/properties`, { values: props })).status, 200);
  // A fresh load: the products (with the depot's choices) are read when the page loads.
  await page.goto(ts.url + '/#/room/room102');
  await page.reload();
  await page.getByLabel('Install an OS').selectOption(WIN11);
  const dialog = page.getByRole('dialog');
  const select = dialog.getByLabel('Windows image');
  await select.waitFor();
  t.deepEqual(await select.locator('option').allTextContents(), ['the image set for the PC (imagename)', ...EDITIONS.map((e) => e.name)]);
  await select.selectOption(EDITIONS[1]!.name);
  await dialog.getByLabel('Type 1 to confirm').fill('1');
  await dialog.getByRole('button', { name: /Wipe and .* 1 PC/ }).click();
  await dialog.waitFor({ state: 'detached' });
  t.is((await ts.api('GET', `/api/v1/clients/pc03/products/${WIN11}/properties`)).body.imagename, EDITIONS[1]!.name);
  t.is((await ts.api('GET', '/api/v1/clients/pc03/products')).body.find((s: any) => s.productId === WIN11).actionRequest, 'setup');
  t.is((await ts.api('PUT', `/api/v1/clients/pc03/products/${WIN11}/action`, { actionRequest: 'none' })).status, 200);
});

test.serial("a room operator whose room was taken away while her page was open: the UI shows the 403's reason, nothing is set", async (t) => {
  const { ts, browser } = shared;
  const context = await browser.newContext({ viewport: DESKTOP });
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.goto(ts.url + '/');
  await signIn(page, 'olga', PASSWORD);
  await page.getByRole('heading', { name: 'Rooms' }).waitFor();
  // Outside her rooms the UI offers no actions (test/ui/navigation.test.ts); here her page still
  // offers them when an admin moves her to another room: the server decides, and says why.
  await page.goto(ts.url + '/#/room/room101');
  await page.getByRole('button', { name: 'Restore…' }).click();
  t.is((await ts.api('PATCH', '/api/v1/users/olga', { groups: ['room102'] })).status, 200);
  const dialog = page.getByRole('dialog');
  t.regex((await dialog.getByTestId('wipe').textContent()) ?? '', /on 2 PCs: pc01, pc02/);
  await dialog.getByLabel('Type 2 to confirm').fill('2');
  await dialog.getByRole('button', { name: /Wipe and restore 2 PCs/ }).click();
  await dialog.getByRole('alert').waitFor();
  t.regex((await dialog.getByRole('alert').textContent()) ?? '', /refused, nothing changed: group room101 is not one of your groups \(room102\)/);
  await shot(page, 'operator-refused');
  const states = (await ts.api('GET', '/api/v1/product-states?group=room101&product=' + RESTORE)).body as any[];
  t.deepEqual(states.filter((s) => s.actionRequest !== 'none'), [], 'nothing set');
});

test.serial('an action set elsewhere (the CLI, another admin, a schedule) shows on an open room view without a reload', async (t) => {
  const { ts, page } = shared;
  await page.goto(ts.url + '/#/room/room102');
  const tile = page.locator('a.tile[data-client=pc03]');
  await tile.waitFor();
  t.is(await tile.locator('.pending').count(), 0, 'nothing pending on pc03 yet');
  t.is((await ts.api('PUT', '/api/v1/clients/pc03/products/hwinvent/action', { actionRequest: 'setup' })).status, 200);
  await tile.locator('.pending').getByText(/hwinvent pending/).waitFor({ timeout: 30_000 });
  t.is((await ts.api('PUT', '/api/v1/clients/pc03/products/hwinvent/action', { actionRequest: 'none' })).status, 200);
  await tile.locator('.pending').waitFor({ state: 'detached', timeout: 30_000 });
  t.pass();
});

test.serial("the event stream drops while a PC's job ends: once it reconnects the PC's page shows the stored result, not the last live state", async (t) => {
  const { ts, page } = shared;
  t.is((await ts.api('PUT', '/api/v1/clients/pc03/products/hwinvent/action', { actionRequest: 'setup' })).status, 200);
  const job = parseNetbootConfig(await readBootConfig(ts, '52:54:00:15:00:03', null))!;
  await page.goto(ts.url + '/#/client/pc03');
  const row = page.locator(`li[data-job-row="${job.jobId}"]`);
  await row.waitFor();
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/progress', { percent: 40, message: 'reading the disk' })).status, 200);
  await row.getByText('hwinvent running').waitFor();
  // The server drops every connection (as a restart or a proxy's idle timeout does), the browser's
  // event stream with them; the job ends before the browser opens it again (it waits 2 s).
  ts.server.http.server.closeAllConnections();
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  await row.getByText('hwinvent succeeded').waitFor({ timeout: 15_000 });
  t.is(await page.locator('.dot.on').count(), 1, 'live updates on again');
});

test.serial("a running job's log box shows its newest lines, saying that the whole log comes when the job ends", async (t) => {
  const { ts, page } = shared;
  t.is((await ts.api('PUT', '/api/v1/clients/pc03/products/hwinvent/action', { actionRequest: 'setup' })).status, 200);
  const job = parseNetbootConfig(await readBootConfig(ts, '52:54:00:15:00:03', null))!;
  t.is((await agentCall(ts.url, job.token, 'GET', '/job')).status, 200);
  // 2 500 log lines (a chatty product): more than the box shows.
  for (let batch = 0; batch < 5; batch++) {
    const log = Array.from({ length: 500 }, (_, i) => `line ${String(batch * 500 + i).padStart(4, '0')}`);
    t.is((await agentCall(ts.url, job.token, 'POST', '/job/progress', { percent: 10 + batch * 10, message: 'reading', log })).status, 200);
  }
  await page.goto(ts.url + '/#/client/pc03');
  const row = page.locator(`li[data-job-row="${job.jobId}"]`);
  await row.getByText('hwinvent running').waitFor();
  await row.getByRole('button').click();
  const box = row.locator('pre.log');
  await box.getByText(/line 2499/).waitFor();
  const text = (await box.textContent()) ?? '';
  t.true(text.startsWith('(the newest 2000 lines; the whole log comes when the job ends)'), text.slice(0, 200));
  t.false(text.includes('line 0000'), 'the oldest lines are the ones left out');
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  await row.getByText('hwinvent succeeded').waitFor({ timeout: 15_000 });
});

test.serial('screenshots at phone width, light and dark', async (t) => {
  const { ts, page } = shared;
  await page.setViewportSize(PHONE);
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.goto(ts.url + '/#/room/room101');
    await page.locator('a.tile[data-client=pc02] .last[data-last=succeeded]').waitFor();
    await shot(page, `phone-room-${scheme}`);
    // Nothing sticks out sideways at phone width.
    t.true((await page.evaluate('document.documentElement.scrollWidth')) as number <= PHONE.width, `no horizontal scrolling (${scheme})`);
    await page.goto(ts.url + '/#/client/pc01');
    await page.getByRole('heading', { name: 'pc01' }).waitFor();
    await shot(page, `phone-client-${scheme}`);
  }
  await page.setViewportSize(DESKTOP);
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(ts.url + '/#/rooms');
  await page.locator('a.tile[data-client=pc02] .last[data-last=succeeded]').waitFor();
  await shot(page, 'rooms-dark');
});
