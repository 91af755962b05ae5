// The imaging products against the real bootserver (in-process, loopback) on a loop device, run
// the way the agent runs them: config read -> job token -> GET /job -> product -> result -> log.
// What they change on the server is checked through the admin API: prepare clears restore's
// images and queues start_os_installation, backup names the image and fills imagefile/
// imagefiles_list/free_on_backup, restore puts the saved product states back (also those of
// products this server does not know) and queues setup_after_restore (for windomain, a product
// netimage does not run: setup on its foreign state), delimage updates the list. With two images
// the agent's report reaches the admin API: each image's size is the sum of
// its files on the backup partition, its date the one in its metadata.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { agentCall, issueJob, startTestServer, type TestServer } from '../helpers/server.ts';
import { runProductOnLoop, type RunOutcome } from './helpers/run-product.ts';
import { createLoop, damage, helper, MiB, ROOT } from './helpers/loop.ts';

const MAC = '52:54:00:12:34:56';
const CLIENT = 'pc01.school.lan';
const PREPARE = 'opsi-local-image-prepare';
const BACKUP = 'opsi-local-image-backup';
const RESTORE = 'opsi-local-image-restore';
const DELIMAGE = 'opsi-local-image-delimage';
const UBUNTU = 'opsi-local-image-ubuntu';
const SECOND = 'second';

/** The admin sets the action (with properties), the client reads its config, the agent runs the product. */
const runProduct = (ts: TestServer, productId: string, loop: { path: string; dir: string }, properties: Record<string, unknown> = {}): Promise<RunOutcome> =>
  runProductOnLoop(ts, { clientId: CLIENT, mac: MAC }, productId, loop, properties);

async function state(ts: TestServer, productId: string): Promise<any> {
  return ((await ts.api('GET', `/api/v1/clients/${CLIENT}/products`)).body as any[]).find((s) => s.productId === productId);
}

async function props(ts: TestServer, productId: string): Promise<Record<string, any>> {
  return (await ts.api('GET', `/api/v1/clients/${CLIENT}/products/${productId}/properties`)).body;
}

/** Each image directory on the backup partition, read outside the agent: its files' bytes added up, its metadata's date. */
async function imagesOnDisk(backupDev: string, names: string[]): Promise<Record<string, { bytes: number; createdAt: string }>> {
  const found = (await helper(['sizes', backupDev, ...names.map((n) => `${n}/metadata.json`)])) as { sizes: Record<string, number>; texts: Record<string, string> };
  const out: Record<string, { bytes: number; createdAt: string }> = {};
  for (const name of names) {
    const bytes = Object.entries(found.sizes).reduce((sum, [path, size]) => (path.startsWith(`${name}/`) ? sum + size : sum), 0);
    out[name] = { bytes, createdAt: JSON.parse(found.texts[`${name}/metadata.json`]!).createdAt };
  }
  return out;
}

test('products: prepare -> backup -> restore -> delimage against the real server', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const loop = await createLoop(t, 2 * 1024 * MiB, 512);

  // An image made at an opsi site came back with a state of a localboot product this netboot
  // server does not have (windomain): a restore put it back, and the server must keep it.
  const opsiRestore = await issueJob(ts, { clientId: CLIENT, mac: MAC, productId: RESTORE, properties: { imagefile: 'opsi-image', imagefiles_list: ['opsi-image'] } });
  const windomain = { productId: 'windomain', installationStatus: 'installed', actionResult: 'successful', lastAction: 'setup', productVersion: '4.3-1' };
  t.is((await agentCall(ts.url, opsiRestore.token, 'PUT', '/client/product-states', { states: [windomain] })).status, 200);
  t.is((await agentCall(ts.url, opsiRestore.token, 'POST', '/job/result', { result: 'successful' })).status, 200);

  const prep = await runProduct(ts, PREPARE, loop, {
    system_partition_size: '500M',
    winpe_partition_size: '0G',
    minimal_backup_partition_size: '50%',
    start_os_installation: UBUNTU,
    multi_disk_mode: '0',
    backup_partition_on_same_disk: true,
  });
  t.true(prep.ok, prep.error ?? prep.log.join('\n'));
  t.true(prep.log.some((l) => /only one usable disk/.test(l)), prep.log.join('\n'));
  t.is(prep.progress.at(-1), 100);
  t.like(await props(ts, RESTORE), { imagefile: '', imagefiles_list: [] }, 'the old images are gone with the partitions');
  t.like(await state(ts, PREPARE), { installationStatus: 'installed', actionResult: 'successful', actionRequest: 'none' });
  t.is((await state(ts, UBUNTU)).actionRequest, 'setup', 'start_os_installation queued');
  t.like((await ts.api('GET', `/api/v1/jobs/${prep.jobId}`)).body, { state: 'succeeded' });
  t.regex((await ts.api('GET', `/api/v1/jobs/${prep.jobId}/log`)).text, /set to setup/, 'the final log arrived after the result');
  // start_os_installation is Linux: ext4 system partition
  t.is((await run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', `${loop.path}p3`])).stdout.trim(), 'ext4');

  // The OS install itself runs on loop disks in linux-install.test.ts: the admin takes the request
  // back here, and files on the system partition stand in for the installed OS.
  t.is((await ts.api('PUT', `/api/v1/clients/${CLIENT}/products/${UBUNTU}/action`, { actionRequest: 'none' })).status, 200);
  const filled = await helper(['fill', `${loop.path}p3`, 'ext4', '40']);
  const manifest = join(loop.dir, 'm.json');
  await writeFile(manifest, JSON.stringify(filled.manifest));

  const bk = await runProduct(ts, BACKUP, loop, { imagefile: UBUNTU });
  t.true(bk.ok, bk.error ?? bk.log.join('\n'));
  t.true(bk.log.some((l) => /chunks of .*, cut by (chunkcut|node)\)/.test(l)), `image_format defaults to chunked: ${bk.log.join('\n')}`);
  t.like(await props(ts, RESTORE), { imagefile: UBUNTU, imagefiles_list: [UBUNTU] });
  t.regex(String((await props(ts, BACKUP))['free_on_backup']), /^device: .*, use: \d+%/);

  await damage(`${loop.path}p3`, 1, 100);
  const rs = await runProduct(ts, RESTORE, loop, { setup_after_restore: ['windomain', 'hwinvent'] });
  t.true(rs.ok, rs.error ?? rs.log.join('\n'));
  t.true(rs.log.some((l) => /\((delta|full): \d+ of \d+ chunks written/.test(l)), rs.log.join('\n'));
  t.true(rs.log.includes('restored 2 saved product states'), rs.log.join('\n'));
  t.like(await state(ts, RESTORE), { installationStatus: 'installed', actionResult: 'successful', actionRequest: 'none' }, "restore's own state is its result, not the saved one");
  t.is((await state(ts, 'hwinvent')).actionRequest, 'setup', 'setup_after_restore queued');
  t.like(await state(ts, 'windomain'), { ...windomain, actionRequest: 'setup', managedBy: 'os' }, 'setup recorded for the OS side');
  t.true(rs.log.includes('set to setup: windomain, hwinvent'), rs.log.join('\n'));
  // pagefile: the server refuses a value outside its choices (the agent checks it again with zod); skip on an ext4 image without a swap file says so
  // (or, should the records not be usable on this mounted-and-unmounted file system, that it needs them).
  await t.throwsAsync(runProduct(ts, RESTORE, loop, { pagefile: 'nonsense' }), { message: /opsi-local-image-restore\.pagefile must be one of: \\"restore\\", \\"skip\\"/ });
  const skip = await runProduct(ts, RESTORE, loop, { pagefile: 'skip' });
  t.true(skip.ok, skip.error ?? skip.log.join('\n'));
  t.true(skip.log.some((l) => /^pagefile=skip not applied: (the image had no swap file at backup \(a file whose first page ends in SWAPSPACE2\); compared like every other file|it needs the inode records; its swap file is restored like every other file)$/.test(l)), skip.log.join('\n'));
  const v = await helper(['verify', `${loop.path}p3`, 'ext4', manifest]);
  t.true(v.ok, JSON.stringify(v.bad));
  // windomain's state survived the round trip: the next job of this client still sees it.
  await ts.api('PUT', `/api/v1/clients/${CLIENT}/products/hwinvent/action`, { actionRequest: 'none' });

  // A second image. The images of the client detail (chunked: image_format's default): names as imagefiles_list has them,
  // sizes as the files on the backup partition add up, dates from each image's metadata.
  const before = Date.now();
  const bk2 = await runProduct(ts, BACKUP, loop, { imagefile: SECOND });
  t.true(bk2.ok, bk2.error ?? bk2.log.join('\n'));
  const backupDev = /prepared: system \S+, backup (\S+)/.exec(prep.log.join('\n'))![1]!;
  const onDisk = await imagesOnDisk(backupDev, [UBUNTU, SECOND]);
  const images = (await ts.api('GET', `/api/v1/clients/${CLIENT}/images`)).body as any[];
  t.deepEqual(
    images.map((i) => ({ name: i.name, selected: i.selected, format: i.format, fsType: i.fsType, sourcePartition: i.sourcePartition })),
    [
      { name: UBUNTU, selected: false, format: 'chunked', fsType: 'ext4', sourcePartition: `${loop.path}p3` },
      { name: SECOND, selected: true, format: 'chunked', fsType: 'ext4', sourcePartition: `${loop.path}p3` },
    ],
  );
  for (const i of images) {
    t.is(i.sizeBytes, onDisk[i.name]!.bytes, `${i.name}: the sum of its files`);
    t.is(i.createdAt, onDisk[i.name]!.createdAt, `${i.name}: the date of its metadata`);
  }
  t.true(images.every((i) => i.sizeBytes > 0) && Date.parse(images[1].createdAt) >= before - 1000, JSON.stringify(images));
  // The older agent's names-only report: accepted, and the images it names keep what was known.
  const oldAgent = await issueJob(ts, { clientId: CLIENT, mac: MAC, productId: BACKUP });
  t.is((await agentCall(ts.url, oldAgent.token, 'POST', '/client/properties', { productId: RESTORE, values: { imagefile: SECOND, imagefiles_list: [UBUNTU, SECOND] } })).status, 200);
  t.deepEqual((await ts.api('GET', `/api/v1/clients/${CLIENT}/images`)).body, images);
  const unlisted = await agentCall(ts.url, oldAgent.token, 'POST', '/client/properties', { productId: RESTORE, values: { imagefile: SECOND, imagefiles_list: [SECOND] }, images: images.slice(0, 1).map(({ selected: _s, reported: _r, ...i }) => i) });
  t.is(unlisted.status, 400, 'a report must describe exactly the listed images');
  t.regex(unlisted.body.message, /not described: second; not listed: opsi-local-image-ubuntu/);
  t.is((await agentCall(ts.url, oldAgent.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  t.deepEqual((await ts.api('GET', `/api/v1/clients/${CLIENT}/images`)).body, images, 'the refused report changed nothing');

  const del = await runProduct(ts, DELIMAGE, loop, { imagefile: 'all_images' });
  t.true(del.ok, del.error ?? del.log.join('\n'));
  t.like(await props(ts, RESTORE), { imagefile: '', imagefiles_list: [] });
  t.deepEqual((await ts.api('GET', `/api/v1/clients/${CLIENT}/images`)).body, []);
  t.regex(String((await props(ts, BACKUP))['free_on_backup']), /^device: .*, use: \d+%/);
  const probe = await issueJob(ts, { clientId: CLIENT, mac: MAC, productId: BACKUP });
  const saved = (await agentCall(ts.url, probe.token, 'GET', '/client/product-states')).body.states as any[];
  t.deepEqual(saved.find((s) => s.productId === 'windomain'), windomain);

  // With no image left the admin cannot even ask for a restore.
  await ts.api('PUT', `/api/v1/clients/${CLIENT}/products/${BACKUP}/action`, { actionRequest: 'none' });
  const refused = await ts.api('PUT', `/api/v1/clients/${CLIENT}/products/${RESTORE}/action`, { actionRequest: 'setup' });
  t.is(refused.status, 409);
  t.regex(refused.body.message, /^pc\S* has no image to restore; its images: none: back it up first/);
});
