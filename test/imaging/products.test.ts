// The product glue on a loop device with a recording in-memory server: prepare clears restore's
// images and queues the OS, backup names the image and fills imagefile/imagefiles_list/
// free_on_backup, restore puts product states back and queues setup_after_restore, delimage
// updates the list. (The real bootserver is exercised by the lead's end-to-end tests.)
import test from 'ava';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { createLoop, damage, helper, MiB, ROOT } from './helpers/loop.ts';
import type { ServerState } from './helpers/product-run.ts';

async function runProduct(productId: string, loop: string, stateFile: string, firmware = 'uefi') {
  const r = await run('unshare', ['-m', '--propagation', 'private', process.execPath, join(ROOT, 'test/imaging/helpers/product-run.ts'), productId, loop, stateFile, firmware]);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { ok: boolean; error: string | null; errorName: string | null; log: string[]; progress: number[] };
  const state = JSON.parse(await readFile(stateFile, 'utf8')) as ServerState;
  return { ...out, state };
}

test('products: prepare -> backup -> restore -> delimage, server calls and properties', async (t) => {
  const loop = await createLoop(t, 2 * 1024 * MiB, 512);
  const stateFile = join(loop.dir, 'state.json');
  const initial: ServerState = {
    properties: {
      'opsi-local-image-prepare': {
        system_partition_size: '500M',
        winpe_partition_size: '0G',
        minimal_backup_partition_size: '50%',
        start_os_installation: 'opsi-local-image-ubuntu',
        multi_disk_mode: '0',
        backup_partition_on_same_disk: 'true',
      },
      'opsi-local-image-backup': { imagefile: '', setup_after_install: [] },
      'opsi-local-image-restore': { imagefile: 'stale', imagefiles_list: ['stale'], setup_after_restore: ['windomain'] },
      'opsi-local-image-delimage': { imagefile: 'opsi-local-image-ubuntu' },
    },
    productStates: [
      { productId: 'opsi-local-image-ubuntu', installationStatus: 'installed', actionResult: 'successful', lastAction: 'setup', productVersion: '22.04-1' },
      { productId: 'firefox', installationStatus: 'installed', actionResult: 'successful', lastAction: 'setup', productVersion: '120-1' },
    ],
    actionRequests: [],
    calls: [],
  };
  await writeFile(stateFile, JSON.stringify(initial));

  const prep = await runProduct('opsi-local-image-prepare', loop.path, stateFile);
  t.true(prep.ok, prep.error ?? '');
  t.deepEqual(prep.state.properties['opsi-local-image-restore']!['imagefiles_list'], []);
  t.is(prep.state.properties['opsi-local-image-restore']!['imagefile'], '');
  t.deepEqual(prep.state.actionRequests, [{ productId: 'opsi-local-image-ubuntu', actionRequest: 'setup' }]);
  t.true(prep.log.some((l) => /only one usable disk/.test(l)), prep.log.join('\n'));
  t.is(prep.progress.at(-1), 100);
  // start_os_installation is Linux: ext4 system partition
  const sysType = await run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', `${loop.path}p3`]);
  t.is(sysType.stdout.trim(), 'ext4');

  const filled = await helper(['fill', `${loop.path}p3`, 'ext4', '40']);
  const manifest = join(loop.dir, 'm.json');
  await writeFile(manifest, JSON.stringify(filled.manifest));

  // No imagefile: the image is named after the installed opsi-local-image OS product.
  const bk = await runProduct('opsi-local-image-backup', loop.path, stateFile);
  t.true(bk.ok, bk.error ?? '');
  t.is(bk.state.properties['opsi-local-image-restore']!['imagefile'], 'opsi-local-image-ubuntu');
  t.deepEqual(bk.state.properties['opsi-local-image-restore']!['imagefiles_list'], ['opsi-local-image-ubuntu']);
  t.regex(String(bk.state.properties['opsi-local-image-backup']!['free_on_backup']), /^device: .*, use: \d+%/);

  // Between backup and restore the client's states change; restore puts the saved ones back.
  const changed = JSON.parse(await readFile(stateFile, 'utf8')) as ServerState;
  changed.productStates = [{ productId: 'firefox', installationStatus: 'not_installed', actionResult: 'none', lastAction: 'uninstall', productVersion: null }];
  changed.actionRequests = [];
  await writeFile(stateFile, JSON.stringify(changed));
  await damage(`${loop.path}p3`, 1, 100);
  const rs = await runProduct('opsi-local-image-restore', loop.path, stateFile);
  t.true(rs.ok, rs.error ?? '');
  t.deepEqual(rs.state.productStates.map((s) => `${s.productId}:${s.installationStatus}`), ['opsi-local-image-ubuntu:installed', 'firefox:installed']);
  t.deepEqual(rs.state.actionRequests, [{ productId: 'windomain', actionRequest: 'setup' }]);
  const v = await helper(['verify', `${loop.path}p3`, 'ext4', manifest]);
  t.true(v.ok, JSON.stringify(v.bad));

  const del = await runProduct('opsi-local-image-delimage', loop.path, stateFile);
  t.true(del.ok, del.error ?? '');
  t.deepEqual(del.state.properties['opsi-local-image-restore']!['imagefiles_list'], []);
  t.is(del.state.properties['opsi-local-image-restore']!['imagefile'], '');

  // Engine refusals reach the server as ProductError with the reason.
  const again = await runProduct('opsi-local-image-restore', loop.path, stateFile);
  t.false(again.ok);
  t.is(again.errorName, 'ProductError');
  t.regex(again.error!, /imagefile is empty/);
});
