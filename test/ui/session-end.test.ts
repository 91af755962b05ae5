// The web UI when the server ends a session under it (idle timeout, a new password, the user
// removed): the sign-in form comes back saying why, instead of reappearing unexplained. A real
// browser (Debian's chromium through playwright-core) against the real server; no PCs needed, so
// apart from test/ui/webui.test.ts and its loop-device set-up.
import test from 'ava';
import { startTestServer } from '../helpers/server.ts';
import { signIn, signedInPage } from './helpers/browser.ts';

const PASSWORD = 'correct horse battery';

test('a session ended by the server brings back the sign-in form with the reason; signing in again clears it', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  t.is((await ts.api('POST', '/api/v1/groups', { id: 'room1' })).status, 201);
  const page = await signedInPage(t, ts, { name: 'ann', role: 'admin', password: PASSWORD });
  await page.getByRole('link', { name: 'room1' }).waitFor();
  t.is(await page.getByRole('status').count(), 0, 'no notice on a normal sign-in');
  // A new password ends every session of the user (docs/security.md); the next request gets 401.
  t.is((await ts.api('PATCH', '/api/v1/users/ann', { password: 'another long password' })).status, 200);
  await page.getByRole('link', { name: 'room1' }).click();
  const notice = page.getByRole('status');
  await notice.waitFor({ timeout: 15_000 });
  t.regex((await notice.textContent()) ?? '', /^Your session has ended .*: sign in again\.$/);
  t.true(await page.getByLabel('User name').isVisible(), 'the sign-in form is back');
  await signIn(page, 'ann', 'another long password');
  await page.getByText('Sign out').waitFor();
  t.is(await page.getByRole('status').count(), 0, 'signed in again: the notice is gone');
});
