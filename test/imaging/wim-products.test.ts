// opsi-local-image-wim-capture and opsi-wim-info against the real bootserver (in-process,
// loopback) on a loop device, run the way the agent runs them. The Windows is a STAND-IN: files
// with non-ASCII names plus a SYSTEM hive written by test/windows/helpers/hive.ts, once as a
// running installation (refused, nothing written), once as sysprep leaves it (captured).
import test from 'ava';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { dataPartitionRefusal, localWimPath } from '../../imaging/wim/flows.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { ProductId } from '../../lib/products.ts';
import { cli, createLoop, MiB, ROOT, type Loop } from './helpers/loop.ts';
import { runProductOnLoop, type RunOutcome } from './helpers/run-product.ts';

const CLIENT = 'pc07.school.lan';
const { wimCapture: CAPTURE, wimInfo: INFO, win11: WIN11, restore: RESTORE } = ProductId;
const runProduct = (ts: TestServer, productId: string, loop: Loop, properties: Record<string, unknown>): Promise<RunOutcome> =>
  runProductOnLoop(ts, { clientId: CLIENT, mac: '52:54:00:12:34:77' }, productId, loop, properties);

const ntfsTree = (...args: string[]) => run('unshare', ['-m', '--propagation', 'private', process.execPath, join(ROOT, 'test/imaging/helpers/ntfs-tree.ts'), ...args]);

async function props(ts: TestServer, productId: string): Promise<Record<string, any>> {
  return (await ts.api('GET', `/api/v1/clients/${CLIENT}/products/${productId}/properties`)).body;
}

test('wim-capture refuses a running Windows, captures a generalized one, appends; require_generalized=false warns and captures; wim-info lists the images', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const loop = await createLoop(t, 1024 * MiB, 512);
  const prep = await cli(['prepare', '--disk', loop.path, '--allow-loop', '--firmware', 'uefi', '--os', 'windows', '--system-size', '200M', '--winpe-size', '0G', '--min-backup', '50%']);
  t.true(prep.ok, prep.error ?? prep.stderr);
  const sys: string = prep.result.systemDevice;
  await ntfsTree('fill', sys);
  await ntfsTree('hive', sys, 'installed');

  const refused = await runProduct(ts, CAPTURE, loop, { target_product: WIN11, capture_mode: 'append', imagename: 'Büro Win11' });
  t.false(refused.ok);
  t.regex(refused.error ?? '', /refusing to capture: Windows on \S+ is not generalized: Setup\\SystemSetupInProgress is 0/);
  t.like(await props(ts, RESTORE), { imagefile: '', imagefiles_list: [] }, 'no backup was taken');
  t.is((await props(ts, WIN11)).imagename, '');

  await ntfsTree('hive', sys, 'generalized');
  const first = await runProduct(ts, CAPTURE, loop, { target_product: WIN11, capture_mode: 'always_create', imagename: 'Büro Win11', compression: 'xpress', setup_after_capture: ['hwinvent'] });
  t.true(first.ok, first.error ?? first.log.join('\n'));
  t.true(first.log.some((l) => /Windows is generalized/.test(l)), first.log.join('\n'));
  t.is(first.progress.at(-1), 100);
  t.like(await props(ts, RESTORE), { imagefile: `${WIN11}-wim-master`, imagefiles_list: [`${WIN11}-wim-master`] }, 'backed up first');
  t.is((await props(ts, WIN11)).imagename, 'Büro Win11');
  t.is(((await ts.api('GET', `/api/v1/clients/${CLIENT}/products`)).body as any[]).find((s) => s.productId === 'hwinvent')?.actionRequest, 'setup');
  t.true(first.log.some((l) => l.includes(`into ${localWimPath(WIN11)}`)));
  // upload_to_depot (default true): the captured file is in the server's depot, with its edition.
  t.true(first.log.some((l) => new RegExp(`^uploaded \\d+ bytes \\(sha256 [0-9a-f]{64}\\) into wim/${WIN11}$`).test(l)), first.log.join('\n'));
  const depot = ts.server.osImages.depot;
  t.deepEqual((await depot.require('wim', WIN11)).manifest.meta['editions'], [{ index: 1, name: 'Büro Win11' }]);

  const second = await runProduct(ts, CAPTURE, loop, { target_product: WIN11, capture_mode: 'append', imagename: 'Zweites Bild', require_generalized: true });
  t.true(second.ok, second.error ?? second.log.join('\n'));
  t.true(second.log.some((l) => /as image 2 of 2/.test(l)), second.log.join('\n'));
  // The appended file replaces the depot's entry by a new version holding both images.
  t.deepEqual((await depot.require('wim', WIN11)).manifest.meta['editions'], [{ index: 1, name: 'Büro Win11' }, { index: 2, name: 'Zweites Bild' }]);
  t.true((await depot.verify('wim', WIN11)).ok);

  // require_generalized=false: the same finding is a warning in the job log, and the capture goes on.
  await ntfsTree('hive', sys, 'installed');
  const warned = await runProduct(ts, CAPTURE, loop, { target_product: WIN11, capture_mode: 'append', imagename: 'Nicht generalisiert', require_generalized: false, upload_to_depot: false });
  t.true(warned.ok, warned.error ?? warned.log.join('\n'));
  t.true(warned.log.some((l) => /^warning: Windows on \S+ is not generalized: Setup\\SystemSetupInProgress is 0.*; capturing anyway \(require_generalized=false\)$/.test(l)), warned.log.join('\n'));
  t.true(warned.log.some((l) => /as image 3 of 3/.test(l)), warned.log.join('\n'));

  const info = await runProduct(ts, INFO, loop, { target_product: WIN11 });
  t.true(info.ok, info.error ?? '');
  t.true(info.log.some((l) => /: 3 image\(s\), XPRESS/.test(l)), info.log.join('\n'));
  t.true(info.log.some((l) => l.startsWith('3: "Nicht generalisiert"')), info.log.join('\n'));
  t.true(info.log.some((l) => l.startsWith('1: "Büro Win11"')), info.log.join('\n'));
  t.true(info.log.some((l) => l.startsWith('2: "Zweites Bild"')), info.log.join('\n'));
  t.like((await ts.api('GET', `/api/v1/jobs/${info.jobId}`)).body, { state: 'succeeded' });
});

test('a data partition is refused (pure check on layout.json)', (t) => {
  const layout = {
    format: 'netimage-layout/1' as const,
    createdAt: '',
    firmware: 'bios' as const,
    osFamily: 'windows' as const,
    systemDisk: { serial: null, wwn: null, location: 'x', sizeBytes: 1, logicalSectorSize: 512 },
    backupOnSameDisk: true,
    partitions: [
      { disk: 'system' as const, number: 1, role: 'system', fs: 'ntfs', sizeBytes: 1 },
      { disk: 'system' as const, number: 2, role: 'backup', fs: 'ext4', sizeBytes: 1 },
    ],
  };
  t.is(dataPartitionRefusal(layout), null);
  layout.partitions.splice(1, 0, { disk: 'system', number: 2, role: 'data', fs: 'ntfs', sizeBytes: 1 });
  t.regex(dataPartitionRefusal(layout) ?? '', /data partition \(partition 2\).*data_partition_size=0/);
  t.throws(() => localWimPath('../etc'), { message: /is not a product id/ });
});
