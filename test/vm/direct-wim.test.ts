// wimlib inside the booted boot image (direct kernel boot, TCG): opsi-local-image-wim-capture runs
// in the agent against a disk the host prepared (MBR, NTFS system partition filled with non-ASCII
// names, ACLs, streams, a reparse point, and a STAND-IN SYSTEM hive as sysprep leaves it). In the
// VM: hivexsh reads the hive, partclone backs up, wimlib-imagex captures (libxml2 with the ICU
// data stub, non-ASCII image name). Back on the host the WIM is taken off the backup partition
// (debugfs, no mount), applied onto the system partition, and every file must match the source.
import test from 'ava';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runAllowFailure } from '../../lib/process.ts';
import { applyWim, wimInfo } from '../../imaging/wim/wimlib.ts';
import { localWimPath } from '../../imaging/wim/flows.ts';
import { directBoot } from '../../vm-harness/direct-boot.ts';
import { issueJob, startTestServer } from '../helpers/server.ts';
import { cli, ROOT } from '../imaging/helpers/loop.ts';
import { ensureBootImage } from './direct-helpers.ts';

const WIN11 = 'opsi-local-image-win11-x64';
const ntfsTree = async (...args: string[]) => (await run('unshare', ['-m', '--propagation', 'private', process.execPath, join(ROOT, 'test/imaging/helpers/ntfs-tree.ts'), ...args], { maxBuffer: 16 * 2 ** 20 })).stdout;

/** Attach the raw disk with its partitions, run fn, detach (retrying while the kernel lets go). */
async function withLoop<T>(file: string, fn: (dev: string) => Promise<T>): Promise<T> {
  const dev = (await run('losetup', ['-f', '--show', '-P', file])).stdout.trim();
  try {
    // No udev here: partx makes the partition nodes (as test/imaging/helpers/loop.ts does).
    if (!existsSync(`${dev}p2`)) await runAllowFailure('partx', ['-a', dev]);
    return await fn(dev);
  } finally {
    await runAllowFailure('partx', ['-d', dev]);
    for (let i = 0; i < 20 && (await runAllowFailure('losetup', ['-d', dev])).exitCode !== 0; i++) await new Promise((r) => setTimeout(r, 250));
  }
}

test('wim-capture in the boot image: hive check, backup, capture with non-ASCII names; the WIM applies identically on the host', async (t) => {
  const imageDir = await ensureBootImage();
  const dir = await mkdtemp(join(tmpdir(), 'ni-vm-wim-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const disk = join(dir, 'disk.raw');
  await writeFile(disk, '');
  await truncate(disk, 1024 * 2 ** 20);

  const source = await withLoop(disk, async (dev) => {
    const prep = await cli(['prepare', '--disk', dev, '--allow-loop', '--firmware', 'bios', '--os', 'windows', '--system-size', '200M', '--winpe-size', '0G', '--min-backup', '50%']);
    if (!prep.ok) throw new Error(prep.error ?? prep.stderr);
    await ntfsTree('fill', `${dev}p1`);
    await ntfsTree('hive', `${dev}p1`, 'generalized');
    return ntfsTree('dump', `${dev}p1`);
  });

  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const name = 'Büro – 日本語 Ω';
  const job = await issueJob(ts, { clientId: 'pc-wim.school.lan', mac: '52:54:00:57:49:4d', productId: 'opsi-local-image-wim-capture', properties: { target_product: WIN11, imagename: name, capture_mode: 'always_create' } });
  const { vm } = await directBoot({ imageDir, name: 'wim', firmware: 'bios', serverPort: ts.server.httpPort, job: { id: job.jobId, token: job.token }, mac: '52:54:00:57:49:4d', disks: [{ path: disk, format: 'raw', serial: 'WIMDISK1' }] });
  t.teardown(() => vm.stop());
  const done = await vm.waitFor(/netimage: agent finished (\w+)/, 240_000);
  const log = (await ts.api('GET', `/api/v1/jobs/${job.jobId}/log`)).text;
  t.is(done.match[1], 'successful', `${log}\n${vm.tail()}`);
  t.log(`agent finished at ${(done.atMs / 1000).toFixed(1)} s after QEMU start`);
  t.regex(log, /Windows is generalized/);
  t.regex(log, new RegExp(`captured "${name}" as image 1 of 1`));
  await vm.stop();

  await withLoop(disk, async (dev) => {
    const wim = join(dir, 'install.wim');
    const got = await run('debugfs', ['-R', `dump /${localWimPath(WIN11)} ${wim}`, `${dev}p2`]);
    t.true(existsSync(wim), `debugfs could not take the WIM off ${dev}p2: ${got.stderr}`);
    const info = await wimInfo(wim);
    t.deepEqual(info.images.map((i) => i.name), [name]);
    await applyWim({ wimFile: wim, image: name, device: `${dev}p1` });
    t.deepEqual(JSON.parse(await ntfsTree('dump', `${dev}p1`)), JSON.parse(source));
  });
});
