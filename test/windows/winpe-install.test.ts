// Unattended Windows (issue 13 item 2) through the real server and the agent's real staging code
// on loop disks: the checks when the action is set (PC untouched on refusal), the staging plan
// with its completion token, the winpe partition as WinPE would find it (NTFS, files with the
// depot's hashes, drivers for the PC's PCI ids only, unattend.xml, startnet.cmd inside boot.wim,
// SetupComplete.cmd), WinPE's loader in the ESP, the PC's Grub config chainloading the staged WinPE,
// then the completion report (installed, backup queued) or the timeout.
// Stand-ins (named so): the Windows media and WinPE (helpers/fake-media.ts), the PCI devices.
// One server and one depot for the file (test.serial).
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, run } from '../../lib/process.ts';
import { startTestServer, issueJob, readBootConfig, type TestServer } from '../helpers/server.ts';
import { createLoop, MiB, ROOT } from '../imaging/helpers/loop.ts';
import { addFakeMedia, EDITIONS } from './helpers/fake-media.ts';
import { CUSTOM_DIR } from '../../imaging/windows-install/scripts.ts';
import type { WindowsInstallPlan } from '../../lib/agent-protocol.ts';
import { xpath } from './helpers/xpath.ts';

const WIN11 = 'opsi-local-image-win11-x64';
const WIN10 = 'opsi-local-image-win10-x64';
const BACKUP = 'opsi-local-image-backup';
const GOOD = { imagename: EDITIONS[1]!.name, productkey: 'VK7JG-NPHTM-C97JM-9MPGT-3V66T', administrator_password: 'Pa$$<w>rd&"', orgname: 'Schule & Co <IT>', language: 'de-DE', setup_after_install: ['hwinvent'] };

let ts: TestServer;
let mac = 0x10;
test.before(async () => {
  ts = await startTestServer();
  // win11: complete media; win10: media without WinPE (the admin forgot the ADK part).
  await addFakeMedia(ts.server.osImages.depot, WIN11);
  await addFakeMedia(ts.server.osImages.depot, WIN10, { winpe: false });
});
test.after.always(async () => ts?.stop());

/** A captured WIM as wim-upload leaves it in the depot; STAND-IN bytes (setup never reads it here). */
const CAPTURED = 'lab-master 2026-12-01 ü';
const CAPTURED_BYTES = 'STAND-IN captured WIM\n';
async function addCapturedWim(): Promise<void> {
  await ts.server.osImages.depot.commitVersion('wim', WIN11, { product: WIN11, capturedFrom: 'pc-master', editions: [{ index: 1, name: EDITIONS[0]!.name }, { index: 2, name: CAPTURED }] }, async (dir) => {
    await writeFile(join(dir, 'install.wim'), CAPTURED_BYTES);
  });
}

async function newClient(id: string): Promise<string> {
  const m = `52:54:00:00:73:${(mac++).toString(16).padStart(2, '0')}`;
  const r = await ts.api('POST', '/api/v1/clients', { id, mac: m });
  if (r.status !== 201) throw new Error(r.text);
  return m;
}

async function snapshot(clientId: string) {
  const states = ((await ts.api('GET', `/api/v1/clients/${clientId}/products`)).body as Record<string, unknown>[]).map(({ modified: _m, ...rest }) => rest);
  const props = (await ts.api('GET', `/api/v1/clients/${clientId}/products/${WIN11}/properties`)).body;
  return JSON.stringify({ states, props, jobs: (await ts.api('GET', `/api/v1/jobs?client=${clientId}`)).body });
}

async function state(clientId: string, productId = WIN11) {
  return (await ts.api('GET', `/api/v1/clients/${clientId}/products`)).body.find((p: { productId: string }) => p.productId === productId) as Record<string, unknown>;
}


async function stage(loop: { path: string; dir: string }, firmware: 'uefi' | 'bios', token: string): Promise<any> {
  const r = await run('unshare', ['-m', '--propagation', 'private', process.execPath, join(ROOT, 'test/windows/helpers/winpe-run.ts'), loop.path, firmware, ts.url, token, loop.dir, 'stage'], { maxBuffer: 64 * MiB });
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function prepare(loop: { path: string; dir: string }, firmware: 'uefi' | 'bios'): Promise<void> {
  const r = await run('unshare', ['-m', '--propagation', 'private', process.execPath, join(ROOT, 'test/windows/helpers/winpe-run.ts'), loop.path, firmware, ts.url, '-', loop.dir, 'prepare']);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  if (!out.ok) throw new Error(out.error);
}

test.serial('bad input is refused at action set, naming the problem; the PC is untouched', async (t) => {
  const m = await newClient('pc-refused');
  const before = await snapshot('pc-refused');
  const set = (productId: string, properties: Record<string, unknown>) => ts.api('PUT', `/api/v1/clients/pc-refused/products/${productId}/action`, { actionRequest: 'setup', properties });
  const cases: [string, Record<string, unknown>, number, RegExp][] = [
    [WIN10, GOOD, 409, /no usable WinPE \(missing winpe\/EFI\/Boot\/bootx64\.efi, winpe\/bootmgr, winpe\/sources\/boot\.wim\)/],
    [WIN11, { ...GOOD, imagename: '' }, 409, /imagename is required: one of "Windows 11 Pro", "Windows 11 Education & <Lab>"/],
    [WIN11, { ...GOOD, imagename: 'Windows 11 Home' }, 409, /imagename "Windows 11 Home" is not an image of windows-media\/opsi-local-image-win11-x64/],
    [WIN11, { ...GOOD, productkey: 'ABCDE-12345' }, 400, /productkey must be five groups of five/],
    [WIN11, { ...GOOD, administrator_password: '' }, 400, /administrator_password is required/],
    [WIN11, { ...GOOD, setup_after_install: [WIN11] }, 400, /setup_after_install/],
  ];
  for (const [productId, props, status, message] of cases) {
    const r = await set(productId, props);
    t.is(r.status, status, `${productId} ${JSON.stringify(props)}: ${r.text}`);
    t.regex(r.body.message ?? r.text, message);
  }
  // The depot entry missing altogether.
  await ts.server.osImages.depot.remove('windows-media', WIN10);
  const none = await set(WIN10, GOOD);
  t.is(none.status, 409);
  t.regex(none.body.message, /the depot has no windows-media\/opsi-local-image-win10-x64: import the Windows medium/);
  t.is(await snapshot('pc-refused'), before, 'nothing stored, no job');
  t.regex(await readBootConfig(ts, m, null), /no pending netboot action/);
});

test.serial("imagename choices: the medium's editions and a captured WIM's, in the API and the CLI; an image only the captured WIM has is installed from it", async (t) => {
  const imagename = (p: { properties: { name: string; choices: string[] }[] }) => p.properties.find((x) => x.name === 'imagename')!.choices;
  t.deepEqual(imagename((await ts.api('GET', `/api/v1/products/${WIN11}`)).body), EDITIONS.map((e) => e.name));
  await addCapturedWim();
  const all = [...EDITIONS.map((e) => e.name), CAPTURED];
  t.deepEqual(imagename((await ts.api('GET', `/api/v1/products/${WIN11}`)).body), all);
  t.deepEqual(imagename((await ts.api('GET', '/api/v1/products')).body.find((p: { id: string }) => p.id === WIN11)), all);
  const cli = await execa(process.execPath, ['bootserver/cli/main.ts', 'product', 'show', WIN11], { cwd: ROOT, env: { NETIMAGE_URL: ts.url, NETIMAGE_TOKEN: ts.adminToken } });
  t.regex(cli.stdout, /imagename +"" +"Windows 11 Pro", "Windows 11 Education & <Lab>", "lab-master 2026-12-01 ü" +Image inside install\.wim/);

  const refused = await ts.api('PUT', `/api/v1/clients/pc-refused/products/${WIN11}/action`, { actionRequest: 'setup', properties: { ...GOOD, imagename: 'Windows 11 Home' } });
  t.is(refused.status, 409);
  t.regex(refused.body.message, /is not an image of windows-media\/opsi-local-image-win11-x64 or wim\/opsi-local-image-win11-x64: use one of "Windows 11 Pro", "Windows 11 Education & <Lab>", "lab-master 2026-12-01 ü"/);

  const m = await newClient('pc-captured');
  const job = await issueJob(ts, { clientId: 'pc-captured', mac: m, productId: WIN11, properties: { ...GOOD, imagename: CAPTURED } });
  const auth = { headers: { authorization: `Bearer ${job.token}` } };
  const plan = (await (await fetch(`${ts.url}/agent/v1/windows-install`, auth)).json()) as WindowsInstallPlan & { installImage: NonNullable<WindowsInstallPlan["installImage"]> };
  t.is(plan.imageIndex, 2);
  t.like(plan.installImage, { base: `/depot/v1/wim/${WIN11}`, file: { path: 'install.wim', size: 22 } });
  t.false(plan.media.files.some((f: { path: string }) => /^installfiles\/sources\/install\./.test(f.path)), "the medium's install image is left out");
  const wim = await fetch(`${ts.url}${plan.installImage.base}/install.wim`, auth);
  t.is(wim.status, 200, 'the job may read the captured WIM');
  t.is(await wim.text(), 'STAND-IN captured WIM\n');
  t.is((await ts.api('PUT', `/api/v1/clients/pc-captured/products/${WIN11}/action`, { actionRequest: 'none' })).status, 200);
});

test.serial('a captured WIM a pending install or a schedule of one takes its image from is not removed (409 naming them, nothing removed); one only the medium serves is', async (t) => {
  await addCapturedWim();
  const action = (clientId: string, actionRequest: string, imagename?: string) =>
    ts.api('PUT', `/api/v1/clients/${clientId}/products/${WIN11}/action`, { actionRequest, ...(imagename ? { properties: { ...GOOD, imagename } } : {}) });
  await newClient('pc-wim-user');
  await newClient('pc-media-user');
  t.is((await action('pc-wim-user', 'setup', CAPTURED)).status, 200);
  // The medium has an edition of this name too: the medium's is installed, the WIM is not read.
  t.is((await action('pc-media-user', 'setup', EDITIONS[0]!.name)).status, 200);

  const refused = await ts.api('DELETE', `/api/v1/depot/wim/${WIN11}`);
  t.is(refused.status, 409, refused.text);
  t.is(
    refused.body.message,
    `wim/${WIN11} is still needed: the pending ${WIN11} of pc-wim-user fetches it; clear that first (netimage action set <hostname> ${WIN11} --request none) or let it run; nothing was removed`,
  );
  t.is((await ts.api('GET', `/api/v1/depot/wim/${WIN11}`)).status, 200, 'still there');

  // A schedule's properties over the PC's own: pc-media-user's run would install the captured image.
  t.is((await action('pc-wim-user', 'none')).status, 200);
  const schedule = await ts.api('POST', '/api/v1/schedules', { name: 'wim-night', every: 'daily 03:00', target: { kind: 'client', id: 'pc-media-user' }, productId: WIN11, properties: { imagename: CAPTURED } });
  t.is(schedule.status, 201, schedule.text);
  const scheduled = await ts.api('DELETE', `/api/v1/depot/wim/${WIN11}`);
  t.is(scheduled.status, 409, scheduled.text);
  t.is(scheduled.body.message, `wim/${WIN11} is still needed: schedule(s) wim-night will fetch it; clear that first (netimage schedule rm wim-night); nothing was removed`);
  t.is((await ts.api('DELETE', '/api/v1/schedules/wim-night')).status, 204);

  // Only pc-media-user's install of the medium's edition is pending now: the WIM may go.
  t.is((await ts.api('DELETE', `/api/v1/depot/wim/${WIN11}`)).status, 204);
  t.is((await action('pc-media-user', 'none')).status, 200);
});

test.serial('UEFI: staged winpe partition, drivers by PCI id, answer file, ESP loader; Grub chainloads WinPE; the completion report installs and queues the backup', async (t) => {
  t.timeout(5 * 60_000);
  const m = await newClient('pc-uefi-01');
  const loop = await createLoop(t, 1024 * MiB, 512);
  await prepare(loop, 'uefi');
  const job = await issueJob(ts, { clientId: 'pc-uefi-01', mac: m, productId: WIN11, properties: GOOD });
  const linuxPlan = await fetch(`${ts.url}/agent/v1/os-install`, { headers: { authorization: `Bearer ${job.token}` } });
  t.is(linuxPlan.status, 403, 'a Windows job gets no Linux install plan');
  const out = await stage(loop, 'uefi', job.token);
  t.true(out.ok, out.error ?? '');
  t.is(out.error, null, (out.log as string[]).join('\n'));
  t.is(out.winpeFs, 'ntfs');
  t.like((await ts.api('GET', `/api/v1/jobs/${out.jobId}`)).body, { state: 'succeeded' });

  // Every file of winpe/ and installfiles/ is there with the depot's bytes.
  const entry = (await ts.server.osImages.depot.get('windows-media', WIN11))!;
  for (const f of entry.manifest.files) {
    const to = f.path.startsWith('winpe/') ? f.path.slice(6) : f.path.startsWith('installfiles/') ? f.path : f.path.startsWith('custom/') ? `${CUSTOM_DIR}/${f.path.slice(7)}` : null;
    if (!to || to === 'sources/boot.wim') continue; // boot.wim gets startnet.cmd
    t.is(out.sha256[to], f.sha256, to);
  }
  // custom/: every file under $OEM$\$1 (setup copies it to C:\netimage\custom); SetupComplete.cmd
  // adds its drivers with pnputil and runs its scripts in name order before the report.
  t.true(entry.manifest.files.filter((f) => f.path.startsWith('custom/')).length >= 5);
  t.deepEqual(out.stage.custom, { drivers: true, scripts: ['10-join lab.cmd', '20-tweaks.ps1'] });
  const sc = out.setupComplete as string;
  const at = (s: string) => sc.indexOf(s);
  t.true(at('pnputil.exe /add-driver "%SystemDrive%\\netimage\\custom\\drivers\\*.inf" /subdirs /install') > 0);
  t.true(at('cmd.exe /c ""%SystemDrive%\\netimage\\custom\\setupcomplete\\10-join lab.cmd""') > at('pnputil.exe'));
  t.true(at('powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File "%SystemDrive%\\netimage\\custom\\setupcomplete\\20-tweaks.ps1"') > at('10-join lab.cmd""'));
  t.true(at('rd /s /q "%SystemDrive%\\netimage\\custom\\setupcomplete"') < at('curl.exe'), 'custom/ before the report');
  t.false(sc.includes('readme.txt'), 'only .cmd/.bat/.ps1 run');
  // Drivers: the folders of the .inf files naming a PCI id the PC has, nothing else.
  const drivers = (out.files as string[]).filter((f) => f.startsWith('$WinPEDriver$/')).sort();
  t.deepEqual(drivers, [
    '$WinPEDriver$/001-net_intel-e1000/e1000.inf',
    '$WinPEDriver$/001-net_intel-e1000/e1g6032e.sys',
    '$WinPEDriver$/002-net_virtio/amd64/netkvm.cat',
    '$WinPEDriver$/002-net_virtio/netkvm.inf',
    '$WinPEDriver$/002-net_virtio/netkvm.sys',
  ]);
  t.deepEqual(out.stage.drivers.map((d: any) => [d.folder, d.matched, d.devices]), [
    ['net/intel-e1000', ['PCI\\VEN_8086&DEV_100E&SUBSYS_11001AF4'], ['0000:00:02.0']],
    ['net/virtio', ['PCI\\VEN_1AF4&DEV_1000&SUBSYS_00011AF4&REV_00'], ['0000:00:03.0']],
  ]);
  // The answer file: well-formed, escaped, the chosen edition, the system partition, the drivers.
  await execa('xmllint', ['--noout', '-'], { input: out.unattend });
  const pe = "/unattend/settings[@pass='windowsPE']";
  t.is(await xpath(out.unattend, `${pe}/component[@name='Microsoft-Windows-Setup']/ImageInstall/OSImage/InstallFrom/MetaData/Value`), 'Windows 11 Education & <Lab>');
  t.true(out.unattend.includes('Windows 11 Education &amp; &lt;Lab&gt;'));
  t.is(await xpath(out.unattend, `${pe}/component[@name='Microsoft-Windows-Setup']/ImageInstall/OSImage/InstallTo/PartitionID`), '3', 'GPT: ESP, MSR, system');
  t.is(await xpath(out.unattend, `${pe}/component[@name='Microsoft-Windows-Setup']/UserData/ProductKey/Key`), GOOD.productkey);
  t.is(await xpath(out.unattend, `${pe}/component[@name='Microsoft-Windows-PnpCustomizationsWinPE']/DriverPaths/PathAndCredentials/Path`), 'W:\\$WinPEDriver$');
  t.is(await xpath(out.unattend, "/unattend/settings[@pass='specialize']/component[@name='Microsoft-Windows-Shell-Setup']/ComputerName"), 'pc-uefi-01');
  t.is(await xpath(out.unattend, "/unattend/settings[@pass='specialize']/component[@name='Microsoft-Windows-Shell-Setup']/RegisteredOrganization"), GOOD.orgname);
  t.is(
    await xpath(out.unattend, "/unattend/settings[@pass='oobeSystem']/component[@name='Microsoft-Windows-Shell-Setup']/UserAccounts/AdministratorPassword/Value"),
    Buffer.from(`${GOOD.administrator_password}AdministratorPassword`, 'utf16le').toString('base64'),
  );
  t.false(out.unattend.includes(GOOD.administrator_password), 'the password only encoded');
  // WinPE runs our start script (inside boot.wim, the rest of the image kept), which runs setup.
  t.regex(out.startnet, /W:\\installfiles\\setup\.exe \/unattend:W:\\netimage\\unattend\.xml$/);
  t.regex(out.startnet, /del \/f \/q W:\\netimage\\pending\r\n/);
  t.regex(out.bootWimOther, /STAND-IN WinPE/);
  t.true(out.pending);
  t.regex(out.setupComplete, new RegExp(`curl\\.exe .*--data-binary "@%NIDIR%netimage-report\\.json" ${ts.url}/agent/v1/first-boot && goto reported`));
  t.regex(out.completionToken, /^[0-9a-f]{64}$/);
  t.false(out.setupComplete.includes(out.completionToken), 'the token is in its own file, not the script');
  // The ESP has WinPE's loader and BCD under their own folder.
  t.regex(out.espLoader, /STAND-IN bootx64\.efi/);
  t.regex(out.espBcd, /STAND-IN BCD \(UEFI\)/);

  // The PC's next boot: Grub chainloads the staged WinPE while the marker is there.
  const efi = await readBootConfig(ts, m, null, 'efi');
  t.regex(efi, /if search --no-floppy --file --set=netimage_winpe \/netimage\/pending; then\n {2}if search --no-floppy --file --set=netimage_esp \/EFI\/netimage-winpe\/bootx64\.efi; then\n.*\n {4}chainloader \(\$netimage_esp\)\/EFI\/netimage-winpe\/bootx64\.efi/);
  t.true(efi.indexOf('/EFI/netimage-winpe/bootx64.efi') < efi.indexOf('/EFI/Microsoft/Boot/bootmgfw.efi'), 'WinPE first, then the installed Windows');
  t.regex(await readBootConfig(ts, m, null, 'pc'), /ntldr \(\$netimage_winpe\)\/bootmgr/);
  t.like(await state('pc-uefi-01'), { actionRequest: 'none', installationStatus: 'unknown' });

  // SetupComplete.cmd's report, as curl.exe would send it.
  const report = (token: string) => fetch(`${ts.url}/agent/v1/first-boot`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(out.report) });
  t.is((await report(job.token)).status, 401, 'the job token is no completion token');
  t.is((await report(out.completionToken)).status, 200);
  t.like(await state('pc-uefi-01'), { installationStatus: 'installed', actionResult: 'successful' });
  t.like(await state('pc-uefi-01', BACKUP), { actionRequest: 'setup' });
  t.is((await ts.api('GET', `/api/v1/clients/pc-uefi-01/products/${BACKUP}/properties`)).body.imagefile, WIN11);
  t.is((await report(out.completionToken)).status, 401, 'once');
  t.notRegex(await readBootConfig(ts, m, null, 'efi'), /netimage-winpe/, 'installed: no more WinPE');
});

test.serial('BIOS: a tampered media file fails the staging and wipes the partition; staged (an image of the captured WIM): bootmgr for grub\'s ntldr, PartitionID 1; no report by the deadline fails the product', async (t) => {
  t.timeout(5 * 60_000);
  const m = await newClient('pc-bios-01');
  const loop = await createLoop(t, 1024 * MiB, 512);
  await prepare(loop, 'bios');
  // A depot file changed behind the manifest's back: the staging fails and leaves no filesystem
  // (so nothing half-staged can boot); the job fails with the reason.
  const entry = (await ts.server.osImages.depot.get('windows-media', WIN11))!;
  const setupExe = join(entry.dir, 'installfiles/setup.exe');
  const original = await readFile(setupExe);
  await writeFile(setupExe, Buffer.from(original.toString().replace('STAND-IN', 'TAMPERED')));
  const bad = await stage(loop, 'bios', (await issueJob(ts, { clientId: 'pc-bios-01', mac: m, productId: WIN11, properties: { ...GOOD, imagename: 'Windows 11 Pro' } })).token);
  await writeFile(setupExe, original);
  t.regex(bad.error ?? '', /MediaMismatchError: installfiles\/setup\.exe: got \d+ bytes with sha256 [0-9a-f]{64}, the depot manifest says/);
  t.is(bad.winpeFs, null, 'the winpe partition is wiped again');
  t.like((await ts.api('GET', `/api/v1/jobs/${bad.jobId}`)).body, { state: 'failed' });

  // This time an image of the captured WIM: staged as install.wim from wim/<product>.
  await addCapturedWim();
  const job = await issueJob(ts, { clientId: 'pc-bios-01', mac: m, productId: WIN11, properties: { ...GOOD, imagename: CAPTURED } });
  const out = await stage(loop, 'bios', job.token);
  t.true(out.ok, out.error ?? '');
  t.is(out.error, null, (out.log as string[]).join('\n'));
  t.is(out.sha256['installfiles/sources/install.wim'], createHash('sha256').update(CAPTURED_BYTES).digest('hex'), 'the captured WIM, not the medium\'s');
  t.is(out.stage.imageIndex, 2);
  t.is(await xpath(out.unattend, "/unattend/settings[@pass='windowsPE']/component[@name='Microsoft-Windows-Setup']/ImageInstall/OSImage/InstallFrom/MetaData/Value"), CAPTURED);
  t.true((out.files as string[]).includes('bootmgr'));
  t.is(await xpath(out.unattend, "/unattend/settings[@pass='windowsPE']/component[@name='Microsoft-Windows-Setup']/ImageInstall/OSImage/InstallTo/PartitionID"), '1', 'MBR: system first');
  t.is(out.report.bootMode, 'bios');
  t.regex(await readBootConfig(ts, m, null, 'pc'), /insmod ntldr\nif search --no-floppy --file --set=netimage_winpe \/netimage\/pending; then\n.*\n {2}ntldr \(\$netimage_winpe\)\/bootmgr\n {2}boot\n/);
  const installs = ts.server.osImages.installs!;
  // Windows setup has osImages.windowsSetupTimeoutMinutes (240), not the Linux first boot's 30.
  t.is(await installs.sweep(new Date(Date.now() + 31 * 60_000)), 0, 'not after 30 min');
  t.true((await installs.sweep(new Date(Date.now() + 241 * 60_000))) >= 1);
  t.like(await state('pc-bios-01'), { installationStatus: 'unknown', actionResult: 'failed', actionRequest: 'none' });
  t.regex(String((await state('pc-bios-01'))['actionProgress']), /no first-boot report within 240 min/);
});

test.serial('a medium larger than the winpe partition: refused before the copy, naming both sizes; the partition is wiped, the job failed', async (t) => {
  t.timeout(3 * 60_000);
  // STAND-IN: 160 MiB of zeros (sparse) in installfiles/ against the 96M winpe partition.
  await addFakeMedia(ts.server.osImages.depot, WIN10, { bigFileBytes: 160 * MiB });
  const m = await newClient('pc-full-01');
  const loop = await createLoop(t, 1024 * MiB, 512);
  await prepare(loop, 'bios');
  const out = await stage(loop, 'bios', (await issueJob(ts, { clientId: 'pc-full-01', mac: m, productId: WIN10, properties: { ...GOOD, imagename: 'Windows 11 Pro' } })).token);
  t.regex(out.error ?? '', /^ImagingError: the winpe partition \S+ has [\d.]+ MiB free, WinPE, the install sources and drivers need 1\d\d(\.\d)? MiB: prepare again with a larger winpe_partition_size\. Nothing was staged\./);
  t.is(out.winpeFs, null, 'no filesystem: nothing half-staged can boot');
  t.like((await ts.api('GET', `/api/v1/jobs/${out.jobId}`)).body, { state: 'failed' });
});
