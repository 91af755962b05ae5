// bootserver/jobs/first-boot.ts: the first-boot token's life and the product states (pure).
import test from 'ava';
import {
  INSTALL_WINDOW_MS,
  awaitsFirstBoot,
  firstBootTokenVerdict,
  laidDown,
  mintedTokenExpiry,
  overdue,
  productStateAfterFirstBoot,
  productStateAfterTimeout,
} from '../../bootserver/jobs/first-boot.ts';
import { productStateAfter } from '../../bootserver/jobs/lifecycle.ts';
import type { OsInstallRecord, ProductOnClient } from '../../bootserver/store/types.ts';

const T0 = new Date('2026-12-02T10:00:00Z');
const MIN = 60_000;
const at = (minutes: number) => new Date(T0.getTime() + minutes * MIN);

const minted: OsInstallRecord = {
  jobId: 'j',
  clientId: 'pc01',
  productId: 'opsi-local-image-debian',
  state: 'installing',
  tokenHash: 'h',
  tokenExpires: mintedTokenExpiry(T0, 30 * MIN),
  deadline: null,
  report: null,
  updated: T0.toISOString(),
};
const poc: ProductOnClient = {
  clientId: 'pc01',
  productId: 'opsi-local-image-debian',
  actionRequest: 'setup',
  installationStatus: 'not_installed',
  actionResult: 'none',
  actionProgress: 'running',
  lastAction: 'none',
  productVersion: null,
  modified: '',
};

test('only the OS installs wait for a first boot', (t) => {
  t.true(awaitsFirstBoot('opsi-local-image-debian'));
  t.true(awaitsFirstBoot('opsi-local-image-ubuntu'));
  // Unattended Windows too: SetupComplete.cmd reports with the token (issue 13).
  t.true(awaitsFirstBoot('opsi-local-image-win10-x64'));
  t.true(awaitsFirstBoot('opsi-local-image-win11-x64'));
  for (const p of ['hwinvent', 'opsi-local-image-backup', 'opsi-local-image-restore', 'opsi-local-image-wim-capture']) t.false(awaitsFirstBoot(p), p);
});

test('a minted token lives for the install window plus the timeout; laid down, it dies at the deadline', (t) => {
  t.is(minted.tokenExpires, new Date(T0.getTime() + INSTALL_WINDOW_MS + 30 * MIN).toISOString());
  t.true(firstBootTokenVerdict(minted, at(60)).ok, 'usable while installing');
  t.false(firstBootTokenVerdict(minted, new Date(T0.getTime() + INSTALL_WINDOW_MS + 30 * MIN)).ok, 'expired at its expiry');
  const waiting = laidDown(minted, at(10), 30 * MIN);
  t.like(waiting, { state: 'waiting', deadline: at(40).toISOString(), tokenExpires: at(40).toISOString() });
  t.true(firstBootTokenVerdict(waiting, at(39)).ok);
  t.deepEqual(firstBootTokenVerdict(waiting, at(40)), { ok: false, reason: `the first-boot token expired at ${at(40).toISOString()}` });
});

test('a used, timed-out or superseded install, or no record, refuses the token', (t) => {
  for (const state of ['reported', 'timed_out', 'superseded'] as const) {
    const v = firstBootTokenVerdict({ ...minted, state }, at(1));
    t.false(v.ok, state);
    if (!v.ok) t.regex(v.reason, new RegExp(`the install is ${state.replace('_', ' ')}`));
  }
  t.deepEqual(firstBootTokenVerdict(null, at(1)), { ok: false, reason: 'unknown or already used first-boot token' });
  t.false(firstBootTokenVerdict({ ...minted, tokenExpires: null }, at(1)).ok);
});

test('overdue: only waiting installs past their deadline', (t) => {
  const waiting = laidDown(minted, T0, 30 * MIN);
  t.deepEqual(overdue([waiting, minted], at(29)), []);
  t.deepEqual(overdue([waiting, minted], at(30)), [waiting]);
  t.deepEqual(overdue([{ ...waiting, state: 'reported' }], at(90)), []);
});

test('states: laid down is neither installed nor pending (local boot), the report makes it installed, the timeout failed', (t) => {
  const after = productStateAfter(poc, { type: 'succeeded' }, { attempt: 1, actionRequest: 'setup', productVersion: '1.0', now: 'n', awaitsFirstBoot: true });
  t.like(after, { actionRequest: 'none', installationStatus: 'unknown', actionResult: 'none', lastAction: 'setup' });
  const plain = productStateAfter(poc, { type: 'succeeded' }, { attempt: 1, actionRequest: 'setup', productVersion: '1.0', now: 'n' });
  t.like(plain, { installationStatus: 'installed', actionResult: 'successful' }, 'other products: installed at once, as before');
  const report = { hostname: 'pc01', kernelRelease: '6.1.0-28-amd64', secureBoot: false, bootMode: 'bios' as const };
  t.like(productStateAfterFirstBoot(after, { productVersion: '1.0', now: 'm', report }), {
    installationStatus: 'installed',
    actionResult: 'successful',
    productVersion: '1.0',
    actionProgress: 'first boot of pc01 (kernel 6.1.0-28-amd64, BIOS, Secure Boot off)',
  });
  t.like(productStateAfterTimeout(after, { now: 'm', timeoutMinutes: 30 }), { installationStatus: 'unknown', actionResult: 'failed', actionRequest: 'none' });
  t.like(productStateAfterTimeout({ ...after, actionRequest: 'setup' }, { now: 'm', timeoutMinutes: 30 }), { actionRequest: 'setup' }, 'a newer request stays');
});
