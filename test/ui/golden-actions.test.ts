// Golden images and room seeding from the web UI, in a real browser (Debian's chromium through
// playwright-core) against the real server: the restore dialogs offer the depot's golden images
// (size, verified), fetch only or fetch and restore, and for a room the transport; the
// confirmation says what really happens; a room is one request (the group endpoint the CLI uses).
// Two PCs on loop devices then boot and run the real restore product (test/ui/helpers/pc-run.ts),
// receiving the image from the room's multicast stream (over lo): each tile shows its PC's seeding
// lines from the job stream as `netimage jobs --follow --group` prints them. Also: the "no common
// image" refusal points UI users to the dialog's golden choice (not a CLI flag), and a room
// operator gets the golden choice in her room and nothing her role does not allow.
// No Wake is pressed: its packets would go to this machine's real broadcast address.
import test, { type ExecutionContext } from 'ava';
import { cp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { writeGoldenFiles } from '../helpers/golden-files.ts';
import { launchBrowser, signIn } from './helpers/browser.ts';
import { served, servedBetween } from './helpers/served.ts';
import { TestPc } from './helpers/pc.ts';
import { ROOT } from '../imaging/helpers/loop.ts';
import { bytes } from '../../ui/src/model.ts';
import { formatInZone, processTimeZone } from '../../lib/zoned-time.ts';

const PREPARE = 'opsi-local-image-prepare';
const RESTORE = 'opsi-local-image-restore';
const PASSWORD = 'correct horse battery';
const GOLDEN = 'lab-base';
const GOLDEN_BYTES = 3 * 1024 * 1024 + 123;
/** Pictures for the admin guide, as test/ui/webui.test.ts takes them. */
const SHOTS = join(ROOT, process.env['NETIMAGE_UI_SCREENSHOTS'] ?? 'var/test-results/ui');

interface Shared {
  ts: TestServer;
  pcs: TestPc[];
  browser: Browser;
  page: Page;
  goldenTotal: number;
  verifiedAt: string;
}
let shared: Shared;
/** ava allows no t.teardown in hooks: what the shared set-up must undo, run by test.after.always. */
const cleanups: (() => Promise<unknown> | unknown)[] = [];
const hookContext = { teardown: (fn: () => unknown) => void cleanups.push(fn) } as unknown as ExecutionContext;
test.after.always(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const props = async (ts: TestServer, pc: string) => (await ts.api('GET', `/api/v1/clients/${pc}/products/${RESTORE}/properties`)).body as Record<string, unknown>;
const pendingRestores = async (ts: TestServer, group: string) =>
  ((await ts.api('GET', `/api/v1/product-states?group=${group}&product=${RESTORE}`)).body as { clientId: string; actionRequest: string }[]).filter((s) => s.actionRequest !== 'none').map((s) => s.clientId).sort();

test.before(async () => {
  await mkdir(SHOTS, { recursive: true });
  const ts = await startTestServer({ overrides: { 'auth.scryptLog2N': 10, 'seeding.joinWindowSeconds': 20, 'seeding.rateMbit': 16, 'seeding.pieceKib': 64 } });
  cleanups.push(() => ts.stop());
  await ts.api('POST', '/api/v1/groups', { id: 'lab' });
  await ts.api('POST', '/api/v1/groups', { id: 'other' });
  const pcs = [await TestPc.create(hookContext, 'pc01', '52:54:00:16:00:01', 1024), await TestPc.create(hookContext, 'pc02', '52:54:00:16:00:02', 1024)];
  for (const pc of pcs) await ts.api('POST', '/api/v1/clients', { id: pc.id, mac: pc.mac, group: 'lab' });
  await ts.api('POST', '/api/v1/clients', { id: 'pc09', mac: '52:54:00:16:00:09', group: 'other' });
  for (const user of [
    { name: 'ann', role: 'admin', password: PASSWORD },
    { name: 'olga', role: 'operator', groups: ['lab'], password: PASSWORD },
  ]) {
    const created = await ts.api('POST', '/api/v1/users', user);
    if (created.status !== 201) throw new Error(created.text);
  }
  // The golden images in the depot, as an upload leaves them: lab-base verified, exam not yet.
  const depot = ts.server.osImages.depot;
  for (const [name, size] of [[GOLDEN, GOLDEN_BYTES], ['exam', 200_000]] as const) {
    const src = join(ts.dataDir, `src-${name}`);
    await writeGoldenFiles(src, name, size);
    await depot.create('golden', name, { image: name, fsType: 'ext4', capturedFrom: 'pc-master' }, async (dir) => {
      for (const f of ['image.pcl.zst', 'chunks.json', 'metadata.json']) await cp(join(src, f), join(dir, f));
    });
  }
  await depot.verify('golden', GOLDEN);
  const entry = ((await ts.api('GET', `/api/v1/depot/golden/${GOLDEN}`)).body) as { bytes: number; verified: { at: string } };
  // The PCs get their partitions (a backup partition to fetch onto) while the browser starts.
  const [{ browser, close }] = await Promise.all([
    launchBrowser(),
    ...pcs.map(async (pc) => {
      const set = await ts.api('PUT', `/api/v1/clients/${pc.id}/products/${PREPARE}/action`, {
        actionRequest: 'setup',
        properties: { system_partition_size: '300M', winpe_partition_size: '0G', minimal_backup_partition_size: '30%', multi_disk_mode: '0', backup_partition_on_same_disk: true },
      });
      if (set.status !== 200) throw new Error(set.text);
      const outcome = await pc.boot(ts);
      if (outcome.result !== 'successful') throw new Error(`prepare on ${pc.id}: ${outcome.error}`);
    }),
  ]);
  cleanups.push(close);
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto(ts.url + '/');
  await signIn(page, 'ann', PASSWORD);
  await page.getByRole('heading', { name: 'Rooms' }).waitFor();
  shared = { ts, pcs, browser, page, goldenTotal: entry.bytes, verifiedAt: entry.verified.at };
});

test.serial('a room whose PCs share no image: the dialog says so, and the refusal points to its golden choice, not to a CLI flag', async (t) => {
  const { ts, page } = shared;
  await page.goto(ts.url + '/#/room/lab');
  await page.getByRole('button', { name: 'Restore…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('option', { name: /the image every PC has \(they share none: restore a golden image from the server instead/ }).waitFor({ state: 'attached' });
  await dialog.getByLabel('Type 2 to confirm').fill('2');
  await dialog.getByRole('button', { name: 'Wipe and restore 2 PCs' }).click();
  const alert = dialog.getByRole('alert');
  await alert.waitFor();
  const text = (await alert.textContent()) ?? '';
  t.regex(text, /no image is present on every client of the group: back them up first \(opsi-local-image-backup\), or restore a golden image from the server's depot instead/);
  t.true(text.endsWith('Here: under "Restore from", choose "A golden image from the server".'), text);
  t.notRegex(text, /--server-image|netimage /, 'no CLI flag or command in the browser');
  t.deepEqual(await pendingRestores(ts, 'lab'), [], 'nothing set');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
});

test.serial("seed a room from the UI: golden images with size and verify, fetch only by one multicast stream, worded as what happens, one request; each tile shows its PC's seeding lines from the job stream", async (t) => {
  t.timeout(3 * 60_000);
  const { ts, page, pcs } = shared;
  await page.goto(ts.url + '/#/room/lab');
  await page.locator('a.tile[data-client=pc02]').waitFor();
  const before = await served(ts);
  await page.getByRole('button', { name: 'Restore…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('radio', { name: /^A golden image from the server/ }).check();
  const select = dialog.locator('select[name=golden]');
  await select.waitFor();
  t.deepEqual(await select.locator('option').allTextContents(), [
    `exam — ${bytes(((await ts.api('GET', '/api/v1/depot/golden/exam')).body as { bytes: number }).bytes)}, not verified yet`,
    `${GOLDEN} — ${bytes(shared.goldenTotal)}, verified ${formatInZone(shared.verifiedAt, processTimeZone())}`,
  ]);
  await select.selectOption(GOLDEN);
  t.regex((await dialog.getByTestId('golden-facts').textContent()) ?? '', /^ext4, uploaded from pc-master, in the depot since /);
  // Fetch and restore is the default: it wipes the system partitions, and says so.
  t.true(await dialog.getByRole('radio', { name: /^Fetch and restore/ }).isChecked());
  t.regex((await dialog.getByTestId('wipe').locator('p').textContent()) ?? '', /^This wipes the system partition: everything on it is replaced by golden image lab-base from the server .* on 2 PCs: pc01, pc02$/);
  // The room's transport: each PC over HTTP by default (as the CLI: the stream reaches any host on
  // the segment), multicast chosen knowingly; each line saying what it means.
  t.true(await dialog.getByRole('radio', { name: /^Each PC over HTTP/ }).isChecked());
  const transport = (await dialog.locator('fieldset', { hasText: 'Transport' }).textContent()) ?? '';
  t.regex(transport, /a PC that is late, loses packets or has multicast blocked fetches what it misses over HTTP/);
  t.regex(transport, /Any host on this network can receive the stream: only for images without secrets/);
  await dialog.getByRole('radio', { name: /^One multicast stream for the room/ }).check();
  await dialog.getByRole('radio', { name: /^Fetch only/ }).check();
  const confirm = (await dialog.getByTestId('wipe').locator('p').textContent()) ?? '';
  t.is(confirm.split(':')[0], 'This puts golden image lab-base onto the backup partitions of 2 PCs, replacing an image of that name already there; the system partitions are not touched');
  t.notRegex(confirm, /wipe/i);
  const go = dialog.getByRole('button', { name: 'Fetch onto 2 PCs' });
  t.true(await go.isDisabled(), 'asked for the count like a wipe: an image of that name is replaced');
  await dialog.getByLabel('Type 2 to confirm').fill('2');
  await page.screenshot({ path: join(SHOTS, 'restore-golden.png'), fullPage: true });
  await go.click();
  await page.getByRole('status').getByText('set for 2 PCs of lab (golden image lab-base, one multicast stream for the room, fetch only)', { exact: false }).waitFor();
  const requests = servedBetween(before, await served(ts));
  t.is(requests['POST /api/v1/groups/:id/action'], 1, JSON.stringify(requests));
  t.is(requests['GET /api/v1/depot'], 1, JSON.stringify(requests));
  t.false(Object.keys(requests).some((k) => k.startsWith('POST') && k !== 'POST /api/v1/groups/:id/action'), JSON.stringify(requests));
  t.deepEqual(await pendingRestores(ts, 'lab'), ['pc01', 'pc02']);
  for (const pc of pcs) t.like(await props(ts, pc.id), { server_image: GOLDEN, server_image_multicast: true, restore_after_fetch: false });
  t.like(ts.server.osImages.seeding.list()[0], { groupId: 'lab', entry: GOLDEN, clients: ['pc01', 'pc02'] });

  // Record each tile's seeding lines while the PCs boot and receive the stream.
  await page.evaluate(`(() => {
    const seen = (window.__seeding = {});
    const record = () => document.querySelectorAll('a.tile').forEach((tile) => {
      const line = tile.querySelector('[data-seeding]')?.textContent;
      if (!line) return;
      const list = (seen[tile.getAttribute('data-client')] ??= []);
      if (list.at(-1) !== line) list.push(line);
    });
    new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
  })()`);
  // A picture of the tiles while the stream runs (not asserted: timing).
  let midShot: Promise<void> | null = null;
  const watch = setInterval(() => {
    midShot ??= page
      .locator('[data-seeding]', { hasText: 'pieces by multicast' })
      .count()
      .then((n) => (n > 1 ? page.screenshot({ path: join(SHOTS, 'room-seeding.png'), fullPage: true }).then(() => undefined) : Promise.reject(new Error('not yet'))))
      .catch(() => {
        midShot = null;
      });
  }, 100);
  const outcomes = await Promise.all(pcs.map((pc) => pc.boot(ts)));
  clearInterval(watch);
  await midShot;
  for (const o of outcomes) t.is(o.result, 'successful', o.error);
  for (const pc of pcs) await page.locator(`a.tile[data-client=${pc.id}] .last[data-last=succeeded]`).getByText('restore succeeded').waitFor();
  const seen = (await page.evaluate('window.__seeding')) as Record<string, string[]>;
  for (const [pc, o] of pcs.map((p, i) => [p.id, outcomes[i]!] as const)) {
    const lines = seen[pc] ?? [];
    t.true(lines.some((l) => /^room seeding of lab-base: \d+ % \(\d+ pieces by multicast, \d+ by HTTP\)$/.test(l)), `${pc}'s tile showed the stream's progress: ${JSON.stringify(lines)}`);
    // The same lines the job stream carries (and `jobs --follow --group` prints), none made up.
    const logged = ((await ts.api('GET', `/api/v1/jobs/${o.jobId}/events`)).body as { kind: string; message: string }[]).filter((e) => e.kind === 'log').map((e) => e.message);
    for (const l of lines) t.true(logged.includes(l), `${pc}: "${l}" is a line of its job`);
    t.true(logged.some((l) => /^room seeding of lab-base: \d+ pieces verified \(0 already here, [1-9]\d* by multicast/.test(l)), `${pc} received by multicast: ${logged.join('\n')}`);
  }
  // The image is on each PC's backup partition now; nothing was restored.
  for (const pc of pcs) t.true(((await ts.api('GET', `/api/v1/clients/${pc.id}/images`)).body as { name: string }[]).some((i) => i.name === GOLDEN), `${pc.id} lists ${GOLDEN}`);
});

test.serial("one PC: a golden image fetched and restored wipes its system partition, said so; it is fetched by HTTP (no transport to choose)", async (t) => {
  const { ts, page } = shared;
  await page.goto(ts.url + '/#/client/pc01');
  await page.getByRole('button', { name: 'Restore…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('radio', { name: /^A golden image from the server/ }).check();
  await dialog.locator('select[name=golden]').selectOption(GOLDEN);
  t.is(await dialog.locator('fieldset', { hasText: 'Transport' }).count(), 0);
  t.regex((await dialog.getByTestId('wipe').locator('p').textContent()) ?? '', /^This wipes the system partition: everything on it is replaced by golden image lab-base from the server .* on 1 PC: pc01$/);
  await dialog.getByLabel('Type 1 to confirm').fill('1');
  await dialog.getByRole('button', { name: 'Wipe and restore 1 PC' }).click();
  await page.getByRole('status').getByText('set for pc01 (golden image lab-base)', { exact: false }).waitFor();
  t.like(await props(ts, 'pc01'), { server_image: GOLDEN, server_image_multicast: false, restore_after_fetch: true });
  t.deepEqual(await pendingRestores(ts, 'lab'), ['pc01']);

  // Back to its own image: the golden image still stored must not win (server_image is emptied).
  await page.getByRole('button', { name: 'Restore…' }).click();
  await dialog.getByRole('option', { name: /its selected image/ }).waitFor({ state: 'attached' });
  await dialog.locator('select[name=image]').selectOption(GOLDEN);
  await dialog.getByLabel('Type 1 to confirm').fill('1');
  await dialog.getByRole('button', { name: 'Wipe and restore 1 PC' }).click();
  await page.getByRole('status').getByText('set for pc01: it runs', { exact: false }).waitFor();
  t.like(await props(ts, 'pc01'), { server_image: '', imagefile: GOLDEN });
  t.is((await ts.api('PUT', `/api/v1/clients/pc01/products/${RESTORE}/action`, { actionRequest: 'none' })).status, 200);
});

test.serial('a room operator: in her room the golden choice and what her role allows (restore, back up, wake), nothing else; the server takes her room seeding', async (t) => {
  const { ts, browser } = shared;
  const context = await browser.newContext();
  t.teardown(() => context.close());
  const page = await context.newPage();
  await page.goto(ts.url + '/');
  await signIn(page, 'olga', PASSWORD);
  await page.getByRole('heading', { name: 'Rooms' }).waitFor();
  await page.goto(ts.url + '/#/room/lab');
  await page.getByRole('button', { name: 'Restore…' }).waitFor();
  const buttons = await page.locator('.actions button').allTextContents();
  t.deepEqual(buttons, ['Restore…', 'Back up…', 'Wake'], 'no prepare, install or delete images');
  t.is(await page.getByLabel('Install an OS').count(), 0);
  await page.getByRole('button', { name: 'Restore…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByRole('radio', { name: /^A golden image from the server/ }).check();
  await dialog.locator('select[name=golden]').selectOption(GOLDEN);
  await dialog.getByRole('radio', { name: /^Fetch only/ }).check();
  await dialog.getByRole('radio', { name: /^Each PC over HTTP/ }).check();
  await dialog.getByLabel('Type 2 to confirm').fill('2');
  await dialog.getByRole('button', { name: 'Fetch onto 2 PCs' }).click();
  await page.getByRole('status').getByText('set for 2 PCs of lab (golden image lab-base, fetch only)', { exact: false }).waitFor();
  for (const pc of ['pc01', 'pc02']) t.like(await props(ts, pc), { server_image: GOLDEN, server_image_multicast: false, restore_after_fetch: false });
  t.deepEqual(ts.server.osImages.seeding.list().filter((s) => s.groupId === 'lab' && s.state !== 'over'), [], 'each PC over HTTP: no stream for the room');
  // Another room: she may look, not act.
  await page.goto(ts.url + '/#/room/other');
  await page.getByTestId('not-mine').waitFor();
  t.is(await page.getByRole('button', { name: 'Restore…' }).count(), 0);
  t.is((await ts.api('POST', '/api/v1/groups/lab/action', { productId: RESTORE, actionRequest: 'none' })).status, 200);
});
