// Prepare a loop disk and install Debian on it through the agent's real product code, the way the
// agent runs it; then read back what a test checks. Run inside a private mount namespace.
//   install-run.ts <loop> <uefi|bios> <rootfs depot entry dir>
// STAND-IN: the bootserver's GET /agent/v1/os-install and depot route are replaced by a loopback
// HTTP server here that serves the real cached rootfs entry (chunked ext4 image + chunk index)
// with Range and checks the job token (the server side is tested in test/os-images and
// test/depot). The first response for the image is cut half way, so the resume path runs. A first
// install whose image does not match its sha256 must fail before anything is written.
import { createServer, type IncomingMessage } from 'node:http';
import { createReadStream } from 'node:fs';
import { lstat, readFile, readdir, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { AgentJob, OsInstallPlan } from '../../../lib/agent-protocol.ts';
import type { AgentServerApi, ProductContext } from '../../../lib/netboot-product.ts';
import { prepareFlow, PREPARE_DEFAULTS } from '../../../imaging/flows.ts';
import { makeDebianProduct } from '../../../imaging/products/debian.ts';
import { probeFilesystem } from '../../../imaging/fsdetect.ts';
import { withMount } from '../../../imaging/mount.ts';
import { withChroot } from '../../../imaging/linux-install/chroot.ts';
import { FIRST_BOOT_SCRIPT } from '../../../imaging/linux-install/settings.ts';
import { execa, run, runAllowFailure } from '../../../lib/process.ts';

const [loop, firmwareArg, entryDir] = process.argv.slice(2) as [string, string, string];
const firmware = firmwareArg === 'bios' ? 'bios' : 'uefi';
const JOB_TOKEN = 'a'.repeat(64);
const FIRST_BOOT_TOKEN = 'b'.repeat(64);
const ENTRY_PATH = '/depot/v1/rootfs/test-entry';
const IMAGE_PATH = `${ENTRY_PATH}/image.pcl.zst`;
const manifest = JSON.parse(await readFile(join(entryDir, 'manifest.json'), 'utf8')) as { files: { path: string; sha256: string; size: number }[] };
const fileRef = (name: string) => {
  const f = manifest.files.find((x) => x.path === name)!;
  return { path: `${ENTRY_PATH}/${name}`, sha256: f.sha256, size: f.size };
};
const log: string[] = [];
const requests: { method: string; url: string; range: string | null }[] = [];
const reports: { auth: string | null; body: string }[] = [];
let cutFirst = false;

const body = (req: IncomingMessage) => new Promise<string>((resolve) => {
  let s = '';
  req.on('data', (c) => (s += c)).on('end', () => resolve(s));
});
const server = createServer(async (req, res) => {
  requests.push({ method: req.method ?? '', url: req.url ?? '', range: req.headers.range ?? null });
  if (req.url === '/agent/v1/first-boot' && req.method === 'POST') {
    reports.push({ auth: req.headers.authorization ?? null, body: await body(req) });
    res.writeHead(reports.length === 1 ? 200 : 401).end();
    return;
  }
  const name = (req.url ?? '').startsWith(`${ENTRY_PATH}/`) ? (req.url ?? '').slice(ENTRY_PATH.length + 1) : '';
  if (!manifest.files.some((f) => f.path === name) || req.headers.authorization !== `Bearer ${JOB_TOKEN}`) return void res.writeHead(403).end();
  const file = join(entryDir, name);
  const size = (await stat(file)).size;
  const sha256 = manifest.files.find((f) => f.path === name)!.sha256;
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  res.writeHead(m ? 206 : 200, { 'content-length': size - start, etag: `"${sha256}"`, ...(m ? { 'content-range': `bytes ${start}-${size - 1}/${size}` } : {}) });
  const stream = createReadStream(file, { start });
  if (cutFirst && req.url === IMAGE_PATH) {
    cutFirst = false;
    let sent = 0;
    stream.on('data', (c) => {
      sent += c.length;
      if (sent > size / 2) {
        stream.destroy();
        res.destroy();
      }
    });
  }
  stream.pipe(res);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

function plan(imageSha?: string): OsInstallPlan {
  const image = fileRef('image.pcl.zst');
  return {
    productId: 'opsi-local-image-debian',
    os: 'debian-12',
    rootfs: { image: { ...image, sha256: imageSha ?? image.sha256 }, index: fileRef('chunks.json') },
    hostname: 'pc-install-01',
    language: 'de',
    consoleKeymap: 'de-latin1-nodeadkeys',
    timezone: 'Europe/Berlin',
    proxy: 'http://192.0.2.1:3128',
    aptSources: ['deb http://deb.debian.org/debian bookworm main', 'deb http://deb.debian.org/debian-security bookworm-security main'],
    rootPasswordHash: '$y$j9T$rootsalt$rootHashRootHashRootHashRootHashRootHas',
    userPasswordHash: '$6$usersalt$userHashUserHashUserHash',
    firstBoot: { url: `${base}/agent/v1/first-boot`, token: FIRST_BOOT_TOKEN, expiresAt: new Date(Date.now() + 3600_000).toISOString() },
  };
}

function context(p: OsInstallPlan): ProductContext {
  const job: AgentJob = {
    jobId: 'j1', attempt: 1, productId: 'opsi-local-image-debian', productVersion: '1', actionRequest: 'setup',
    properties: { askbeforeinst: 'false' }, client: { id: 'pc-install-01', mac: null, uuid: null, group: null }, afterJob: 'reboot', serverTime: new Date().toISOString(),
  };
  const server: AgentServerApi = {
    fetchFile: (path, headers = {}, signal) => fetch(`${base}${path}`, { headers: { ...headers, authorization: `Bearer ${JOB_TOKEN}` }, ...(signal ? { signal } : {}) }),
    getOsInstallPlan: async () => p,
    agentRequest: async () => {
      throw new Error('the OS install makes no agent requests of its own');
    },
    getWindowsInstallPlan: async () => {
      throw new Error('not a Windows job');
    },
    setProperties: async () => undefined,
    setActionRequests: async () => undefined,
    getProductStates: async () => [],
    putProductStates: async () => undefined,
    putInventory: async () => undefined,
  };
  return { job, firmware, bootMac: null, log: (l) => log.push(l), progress: () => undefined, server, signal: new AbortController().signal };
}

const out: Record<string, unknown> = {};
try {
  const flow = { log: (l: string) => log.push(l), allowLoop: true, devices: [loop] };
  const prepared = await prepareFlow(flow, { ...PREPARE_DEFAULTS, firmware, osFamily: 'linux', systemPartitionSize: '2G', winpePartitionSize: '128M', minimalBackupPartitionSize: '10%' });
  const product = makeDebianProduct({ allowLoop: true, devices: [loop] });
  const backup = prepared.backupDevice;
  const backupBefore = createHash('sha256').update(await readFile(backup).catch(() => Buffer.alloc(0))).digest('hex');

  // An image that does not match the plan's sha256: refused before anything is written.
  const hashDevice = async (dev: string) => (await run('sha256sum', [dev])).stdout.split(' ')[0];
  out['systemBeforeBad'] = await hashDevice(prepared.systemDevice);
  try {
    await product.run(context(plan('0'.repeat(64))));
    out['badSha'] = 'installed';
  } catch (e) {
    out['badSha'] = `${(e as Error).name}: ${(e as Error).message}`;
  }
  out['systemUnchangedByBad'] = (await hashDevice(prepared.systemDevice)) === out['systemBeforeBad'];

  cutFirst = true;
  const started = performance.now();
  await product.run(context(plan()));
  out['installSeconds'] = (performance.now() - started) / 1000;
  out['backupUnchanged'] = createHash('sha256').update(await readFile(backup)).digest('hex') === backupBefore;

  const sys = prepared.partitions.find((p) => p.role === 'system')!;
  const esp = prepared.partitions.find((p) => p.role === 'esp');
  const swap = prepared.partitions.find((p) => p.role === 'winpe');
  out['uuids'] = { root: (await probeFilesystem(sys.path)).uuid, esp: esp ? (await probeFilesystem(esp.path)).uuid : null, swap: swap ? (await probeFilesystem(swap.path)).uuid : null };
  // The image has no journal; the installed file system has one, fills its partition and checks clean.
  out['systemBlocks'] = Number(/^Block count:\s*(\d+)$/m.exec((await run('dumpe2fs', ['-h', sys.path])).stdout)?.[1] ?? 0) * 4096;
  out['systemPartitionBytes'] = Number((await run('blockdev', ['--getsize64', sys.path])).stdout.trim());
  out['systemFeatures'] = /^Filesystem features:\s*(.*)$/m.exec((await run('dumpe2fs', ['-h', sys.path])).stdout)?.[1] ?? '';
  out['systemFsck'] = (await runAllowFailure('e2fsck', ['-fn', sys.path])).exitCode;
  await withMount(sys.path, async (dir) => {
    const text = (p: string) => readFile(join(dir, p), 'utf8');
    out['fstab'] = await text('etc/fstab');
    out['hostname'] = await text('etc/hostname');
    out['machineIdBytes'] = (await stat(join(dir, 'etc/machine-id'))).size;
    out['sshHostKeys'] = (await readdir(join(dir, 'etc/ssh'))).filter((f) => f.startsWith('ssh_host_'));
    out['shadow'] = (await text('etc/shadow')).split('\n').filter((l) => /^(root|user):/.test(l));
    out['userGroups'] = (await text('etc/group')).split('\n').filter((l) => /^sudo:/.test(l));
    out['locale'] = await text('etc/default/locale');
    out['localeArchive'] = (await stat(join(dir, 'usr/lib/locale/locale-archive'))).size;
    out['keyboard'] = await text('etc/default/keyboard');
    out['localtime'] = await run('readlink', [join(dir, 'etc/localtime')]).then((r) => r.stdout.trim());
    out['aptProxy'] = await text('etc/apt/apt.conf.d/80netimage-proxy');
    out['aptProxyMode'] = ((await stat(join(dir, 'etc/apt/apt.conf.d/80netimage-proxy'))).mode & 0o777).toString(8);
    out['sources'] = await text('etc/apt/sources.list');
    out['grubCfg'] = await text('boot/grub/grub.cfg');
    out['firstBootMode'] = ((await stat(join(dir, 'etc/netimage/first-boot.json'))).mode & 0o777).toString(8);
    out['firstBootEnabled'] = await lstat(join(dir, 'etc/systemd/system/multi-user.target.wants/netimage-first-boot.service')).then(() => true, () => false);
    out['biosGrubModules'] = await stat(join(dir, 'boot/grub/i386-pc/normal.mod')).then(() => true, () => false);
    // The report script as the installed system runs it (bash, /dev/tcp), against the stand-in server.
    await withChroot(dir, (c) => c.run('bash', [FIRST_BOOT_SCRIPT]));
    out['reports'] = reports;
    out['firstBootAfter'] = await stat(join(dir, 'etc/netimage/first-boot.json')).then(() => true, () => false);
    out['firstBootEnabledAfter'] = await lstat(join(dir, 'etc/systemd/system/multi-user.target.wants/netimage-first-boot.service')).then(() => true, () => false);
    if (esp) {
      // Read back with mtools (this host's kernel may have no vfat driver).
      const fromEsp = async (inEsp: string) => Buffer.from((await execa('mcopy', ['-i', esp.path, `::/${inEsp}`, '-'], { env: { MTOOLS_SKIP_CHECK: '1' }, encoding: 'buffer', stripFinalNewline: false })).stdout);
      const same = async (fromRoot: string, inEsp: string) => (await readFile(join(dir, fromRoot))).equals(await fromEsp(inEsp));
      out['espFiles'] = {
        debianShim: await same('usr/lib/shim/shimx64.efi.signed', 'EFI/debian/shimx64.efi'),
        debianGrub: await same('usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed', 'EFI/debian/grubx64.efi'),
        removableShim: await same('usr/lib/shim/shimx64.efi.signed', 'EFI/BOOT/BOOTX64.EFI'),
        removableGrub: await same('usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed', 'EFI/BOOT/grubx64.efi'),
        debianCfg: (await fromEsp('EFI/debian/grub.cfg')).toString(),
        bootCfg: (await fromEsp('EFI/BOOT/grub.cfg')).toString(),
        listing: (await run('mdir', ['-i', esp.path, '-b', '-/', '::/'], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout,
      };
    }
  }, { fsType: 'ext4' });
  const fd = await (await import('node:fs/promises')).open(loop, 'r');
  const mbr = Buffer.alloc(1024 * 1024);
  await fd.read(mbr, 0, mbr.length, 0);
  await fd.close();
  out['mbrHasGrub'] = mbr.subarray(0, 440).includes(Buffer.from('GRUB'));
  out['mbrSignature'] = mbr.readUInt16LE(510).toString(16);
  out['coreImgInGap'] = mbr.subarray(512, 1024 * 1024).some((b) => b !== 0);
  out['resumed'] = requests.filter((r) => r.url === IMAGE_PATH && r.range !== null).map((r) => r.range);
  out['imageUuid'] = JSON.parse(await readFile(join(entryDir, 'metadata.json'), 'utf8')).chunked?.source?.fsUuid ?? null;
  out['ok'] = true;
} catch (e) {
  out['ok'] = false;
  out['error'] = `${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack}`;
}
out['log'] = log;
server.closeAllConnections();
server.close();
process.stdout.write(`${JSON.stringify(out)}\n`);
