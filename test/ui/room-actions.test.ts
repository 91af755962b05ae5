// Room-wide actions from the web UI on a room of 200 PCs: a dialog reads the room's images in one
// request and sets the action in one (the group endpoint the CLI's `room restore` uses), never one
// request per PC. Counted on the server side, by its own request counter (/metrics, by route).
// A real browser (Debian's chromium through playwright-core) against the real server; no PCs boot.
import test from 'ava';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { signedInPage } from './helpers/browser.ts';
import { served, servedBetween } from './helpers/served.ts';

const PASSWORD = 'correct horse battery';
const RESTORE = 'opsi-local-image-restore';
const N = 200;

/** What was served between two counts, per-client routes summed (any route with :id under /clients). */
function delta(before: Map<string, number>, after: Map<string, number>): { perClient: number; byRoute: Record<string, number> } {
  const byRoute = servedBetween(before, after);
  const perClient = Object.entries(byRoute).filter(([k]) => k.includes('/api/v1/clients/:id')).reduce((s, [, v]) => s + v, 0);
  return { perClient, byRoute };
}

test(`a room of ${N} PCs: the restore dialog reads the room's images in one request and sets the restore in one; every PC gets it`, async (t) => {
  t.timeout(3 * 60_000);
  const ts = await startTestServer({ overrides: { 'auth.scryptLog2N': 10 } });
  t.teardown(() => ts.stop());
  const ids = Array.from({ length: N }, (_, i) => `pc${String(i + 1).padStart(3, '0')}`);
  const csv = ['hostname,mac,uuid,group', ...ids.map((id, i) => `${id},52:54:00:20:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')},,bigroom`)].join('\n');
  const imported = await ts.api('POST', '/api/v1/clients/import', csv, { 'content-type': 'text/plain' });
  t.is(imported.status, 201, imported.text);
  // The images each PC's agent reported after its backup: every PC has "room-base", some "exam" too.
  for (const [i, id] of ids.entries()) await ts.server.store.setPropertyValues(id, RESTORE, { imagefile: 'room-base', imagefiles_list: i % 2 ? ['room-base'] : ['room-base', 'exam'] });

  const page = await signedInPage(t, ts, { name: 'ann', role: 'admin', password: PASSWORD });
  await page.getByRole('link', { name: 'bigroom' }).click();
  await page.locator(`a.tile[data-client=${ids[N - 1]}]`).waitFor();

  const before = await served(ts);
  await page.getByRole('button', { name: 'Restore…' }).click();
  const dialog = page.getByRole('dialog');
  await dialog.getByText('the image every PC has (room-base)').waitFor({ state: 'attached' });
  t.is(await dialog.getByRole('option', { name: 'exam (not on every PC)' }).count(), 1, 'an image only some PCs have is offered as such');
  await dialog.getByLabel(`Type ${N} to confirm`).fill(String(N));
  await dialog.getByRole('button', { name: `Wipe and restore ${N} PCs` }).click();
  await page.getByRole('status').getByText(`set for ${N} PCs of bigroom (image room-base)`, { exact: false }).waitFor();
  const opened = delta(before, await served(ts));
  t.is(opened.byRoute['GET /api/v1/groups/:id/images'], 1, JSON.stringify(opened.byRoute));
  t.is(opened.byRoute['POST /api/v1/groups/:id/action'], 1, JSON.stringify(opened.byRoute));
  t.is(opened.perClient, 0, `no request per PC: ${JSON.stringify(opened.byRoute)}`);
  const states = (await ts.api('GET', `/api/v1/product-states?group=bigroom&product=${RESTORE}`)).body as { clientId: string; actionRequest: string }[];
  t.deepEqual(states.filter((s) => s.actionRequest === 'setup').map((s) => s.clientId).sort(), ids, 'every PC has the restore pending');

  // The other room-wide dialog that lists images: deleting images reads the room's images once.
  // (Wake is one POST /groups/:id/wake already; it is left out here: its packets would go to this
  // machine's real broadcast address.)
  const again = await served(ts);
  await page.getByRole('button', { name: 'Delete images…' }).click();
  await dialog.getByRole('option', { name: 'exam' }).waitFor({ state: 'attached' });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  const others = delta(again, await served(ts));
  t.is(others.byRoute['GET /api/v1/groups/:id/images'], 1, JSON.stringify(others.byRoute));
  t.is(others.perClient, 0, `no request per PC: ${JSON.stringify(others.byRoute)}`);
});
