// `netimage depot import|ls|show|verify|rm` as an admin runs them, beside a real `netimage serve`,
// with the stand-in Windows medium (test/helpers/windows-media.ts) and a captured-WIM entry.
import test from 'ava';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnServe, type CliFailure, type ServeProcess } from '../helpers/cli.ts';
import { buildStandInMedium, writeTree } from '../helpers/windows-media.ts';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Depot } from '../../bootserver/depot/depot.ts';
import { writeGoldenFiles } from '../helpers/golden-files.ts';

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

test.serial('depot show of a golden image reads for an admin: image, partition it needs, sha256, chunks, who needs it, when it was verified', async (t) => {
  // A golden image in serve's depot (written beside it, as an upload would leave it).
  const depot = await Depot.open(join(serve.dir, 'data', 'depot'), { recover: false });
  const files = await writeGoldenFiles(join(serve.dir, 'golden-src'), 'lab-base', 300_000);
  await depot.create('golden', 'lab-base', { image: 'lab-base', fsType: 'ext4', capturedFrom: 'pc-master', job: '0123456789abcdef' }, async (dir) => {
    for (const f of ['image.pcl.zst', 'chunks.json', 'metadata.json']) await copyFile(join(serve.dir, 'golden-src', f), join(dir, f));
  });
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${serve.url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${serve.token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  await serve.cli('group', 'add', 'room-golden');
  await serve.cli('client', 'add', 'pc-g1', '--mac', '52:54:00:0b:00:01', '--group', 'room-golden');
  t.is((await api('PUT', '/clients/pc-g1/products/opsi-local-image-restore/action', { actionRequest: 'setup', properties: { server_image: 'lab-base' } })).status, 200);
  t.is((await api('POST', '/schedules', { name: 'golden-night', every: 'daily 03:00', target: { kind: 'group', id: 'room-golden' }, productId: 'opsi-local-image-restore', properties: { server_image: 'lab-base' }, confirm: 1 })).status, 201);

  const sha = createHash('sha256').update(files.image).digest('hex');
  const show = (await serve.cli('depot', 'show', 'golden/lab-base')).stdout;
  t.regex(show, /^golden\/lab-base: golden image, [0-9.]+ MiB in 3 files, uploaded \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d\n/);
  t.regex(show, /\n  image       lab-base, ext4, made \d{4}-.* on pc-master \(backup job 01234567\)\n/);
  t.regex(show, /\n  partition   585\.9 KiB with 293\.0 KiB used: a PC's system partition must be at least 585\.9 KiB\n/);
  t.true(show.includes(`\n  image file  image.pcl.zst 293.0 KiB, sha256 ${sha}\n`), show);
  t.regex(show, /\n  chunks      63 with data, 1024 blocks each; no file-system records: a delta restore compares every chunk\n/);
  t.regex(show, /\n  needed by   the pending action of pc-g1; schedule\(s\) golden-night\n/);
  t.regex(show, /\n  verified    never since it was stored \(netimage depot verify golden\/lab-base re-hashes every file\)\n/);
  t.regex(show, /\n  restore it  netimage room restore <room> --server-image lab-base; one PC: netimage action set <pc> opsi-local-image-restore --prop server_image=lab-base$/m);

  await serve.cli('depot', 'verify', 'golden/lab-base');
  const json = JSON.parse((await serve.cli('depot', 'show', 'golden/lab-base', '--json')).stdout);
  t.like(json, { usedBy: { clients: ['pc-g1'], schedules: ['golden-night'] }, verified: { ok: true, problems: [] }, image: { name: 'lab-base', sha256: sha, chunks: 63, records: null } });
  t.regex((await serve.cli('depot', 'show', 'golden/lab-base')).stdout, /\n  verified    \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d: every file matches its sha256\n/);
  // A byte flipped on disk: the next verify records it, and show says so.
  const image = join(depot.dir, 'golden', 'lab-base', 'image.pcl.zst');
  const bytes = await readFile(image);
  bytes[0] = bytes[0]! ^ 0xff;
  await writeFile(image, bytes);
  await t.throwsAsync(serve.cli('depot', 'verify', 'golden/lab-base'));
  t.regex((await serve.cli('depot', 'show', 'golden/lab-base')).stdout, /\n  verified    .*: DAMAGED \(image\.pcl\.zst: sha256 [0-9a-f]{64}, manifest says [0-9a-f]{64}\)\n/);

  t.is((await api('DELETE', '/schedules/golden-night')).status, 204);
  t.is((await api('PUT', '/clients/pc-g1/products/opsi-local-image-restore/action', { actionRequest: 'none' })).status, 200);
  t.regex((await serve.cli('depot', 'show', 'golden/lab-base')).stdout, /\n  needed by   no pending action or schedule\n/);
  t.regex((await serve.cli('depot', 'rm', 'golden/lab-base')).stdout, /removed golden\/lab-base/);
});
