// `netimage depot import|ls|show|verify|rm` as an admin runs them, beside a real `netimage serve`,
// with the stand-in Windows medium (test/helpers/windows-media.ts) and a captured-WIM entry.
import test from 'ava';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnServe, type CliFailure, type ServeProcess } from '../helpers/cli.ts';
import { buildStandInMedium, writeTree } from '../helpers/windows-media.ts';

const PRODUCT = 'opsi-local-image-win10-x64';
let serve: ServeProcess;
let medium: Awaited<ReturnType<typeof buildStandInMedium>>;
test.before(async () => {
  [serve, medium] = await Promise.all([spawnServe(), buildStandInMedium()]);
});
test.after.always(async () => {
  await serve?.stop();
  if (medium) await rm(medium.dir, { recursive: true, force: true });
});

const fails = async (t: import('ava').ExecutionContext, args: string[], pattern: RegExp) => {
  const e = (await t.throwsAsync(serve.cli(...args))) as CliFailure;
  t.not(e.code, 0);
  t.regex(e.stderr, pattern, args.join(' '));
};

test.serial('import an ISO and a WinPE folder, then ls, show, verify and rm cover the windows-media entry with its parts and editions', async (t) => {
  const iso = await serve.cli('depot', 'import', PRODUCT, medium.iso);
  t.regex(iso.stdout, /installfiles of opsi-local-image-win10-x64: .* \(100%\)/);
  t.regex(iso.stdout, new RegExp(`imported ${Object.keys(medium.files).length} files \\([0-9.]+ MiB\\) into windows-media/${PRODUCT}/installfiles/\\n  edition 1: Windows 11 Pro\\n  edition 2: Windows 11 Education`));
  const winpe = join(medium.dir, 'winpe-cli');
  await writeTree(winpe, { 'sources/boot.wim': Buffer.from('stand-in boot.wim'), 'EFI/Boot/bootx64.efi': Buffer.from('efi') });
  const json = JSON.parse((await serve.cli('depot', 'import', PRODUCT, winpe, '--part', 'winpe', '--json')).stdout);
  t.like(json, { entry: `windows-media/${PRODUCT}`, part: 'winpe', files: 2 });

  const ls = (await serve.cli('depot', 'ls')).stdout;
  t.regex(ls, new RegExp(`windows-media/${PRODUCT}\\s+[0-9.]+ MiB\\s+${Object.keys(medium.files).length + 2}\\s+.*installfiles,winpe; 2 edition\\(s\\)`));
  const show = (await serve.cli('depot', 'show', `windows-media/${PRODUCT}`)).stdout;
  t.regex(show, new RegExp(`installfiles/  [0-9.]+ MiB  from ${medium.iso.replace(/[.]/g, '\\.')}`));
  t.regex(show, new RegExp(`winpe/  0\\.0 MiB  from ${winpe}`));
  t.regex(show, /edition 2: Windows 11 Education/);
  t.regex((await serve.cli('depot', 'verify', `windows-media/${PRODUCT}`)).stdout, /: ok \(/);
  // Served over HTTP with the names of the medium (spaces, "$", non-ASCII), percent-encoded.
  for (const path of ['boot/Fonts dir/Segoe UI.ttf', 'sources/$OEM$/$$/Setup/Scripts/SetupComplete.cmd', 'sources/Ünïcödé-名前.txt']) {
    const url = `${serve.url}/depot/v1/windows-media/${PRODUCT}/installfiles/${path.split('/').map(encodeURIComponent).join('/')}`;
    const res = await fetch(url, { headers: { authorization: `Bearer ${serve.token}` } });
    t.is(res.status, 200, path);
    t.true(Buffer.from(await res.arrayBuffer()).equals(medium.files[path]!), path);
  }
  t.regex((await serve.cli('depot', 'rm', `windows-media/${PRODUCT}`)).stdout, /removed windows-media\//);
  t.notRegex((await serve.cli('depot', 'ls')).stdout, /windows-media/);
});

test.serial('clear errors: unknown kind, missing entry, bad part, not Windows media', async (t) => {
  await fails(t, ['depot', 'show', 'isos/win'], /"isos" is not a depot kind \(rootfs, windows-media, wim, golden\)/);
  await fails(t, ['depot', 'verify', 'wim/opsi-local-image-win11-x64'], /depot entry wim\/opsi-local-image-win11-x64 not found/);
  await fails(t, ['depot', 'import', PRODUCT, medium.iso, '--part', 'sources'], /--part must be one of installfiles, winpe, drivers, custom/);
  await fails(t, ['depot', 'import', PRODUCT, join(medium.dir, 'medium', 'boot')], /is not Windows installation media: no sources\/install\.wim/);
  await fails(t, ['depot', 'import', 'opsi-local-image-win12-x64', medium.iso], /^netimage: depot import is for Windows media of opsi-local-image-win10-x64 or opsi-local-image-win11-x64, not opsi-local-image-win12-x64/);
  t.notRegex((await serve.cli('depot', 'ls')).stdout, /win12/, 'nothing imported');
});
