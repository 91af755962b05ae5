// The boot image `bash run.sh setup` built (var/boot/netimage, or NETIMAGE_BOOT_ROOT) holds the
// programs its code looks for by path: the chunk helpers in stage 2 (imaging/chunked/native.ts; an
// image without them silently takes Node's slower path and delta restores lose their record
// tables, as images built from 8c81cdd until Session 12 did) and stage 1's hasher in both stages;
// the two-stage boot's stage 1 with its modules xz-compressed, the single initrd and the fetched
// root with plain ones. Read with unsquashfs and cpio, nothing mounted.
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { CHUNK_HELPERS, BOOT_IMAGE_HELPER_DIR } from '../../imaging/chunked/native.ts';
import { HASHER_PATH } from '../../bootimage/builder/hasher.ts';
import { STAGE1_MODPROBE } from '../../bootimage/builder/stages.ts';
import { bootRootDefault } from '../../vm-harness/paths.ts';

const image = join(bootRootDefault(), 'netimage');

test('the built image carries the chunk helpers in stage 2 and the hasher in stage 1 and 2', async (t) => {
  t.true(existsSync(join(image, 'stage2')), `no built image in ${image}: run bash run.sh setup first`);
  const stage2 = (await run('unsquashfs', ['-l', '-d', '', join(image, 'stage2')])).stdout.split('\n');
  for (const name of CHUNK_HELPERS) t.true(stage2.includes(`${BOOT_IMAGE_HELPER_DIR}/${name}`), `stage 2 has ${name}`);
  t.true(stage2.includes(`/${HASHER_PATH}`), 'stage 2 has the hasher');
  const stage1 = (await run('sh', ['-c', `zstd -d -q -c "${join(image, 'stage1')}" | cpio -t --quiet`])).stdout.split('\n');
  t.true(stage1.includes(HASHER_PATH), 'stage 1 has the hasher');
});

test("the two-stage boot's stage 1 carries its modules as .ko.xz with an index naming them and its modprobe; the single initrd and the fetched root carry plain modules", async (t) => {
  t.true(existsSync(join(image, 'stage1')), `no built image in ${image}: run bash run.sh setup first`);
  const virtio = /^lib\/modules\/[^/]+\/kernel\/drivers\/net\/virtio_net\.ko$/;
  const stage1 = (await run('sh', ['-c', `zstd -d -q -c "${join(image, 'stage1')}" | cpio -t --quiet`])).stdout.split('\n');
  const modules = stage1.filter((p) => /\.ko(\.xz)?$/.test(p));
  t.true(modules.length > 150, `stage 1 has its NIC modules (${modules.length})`);
  t.deepEqual(modules.filter((p) => !p.endsWith('.ko.xz')), [], 'every module of stage 1 is compressed');
  t.true(stage1.some((p) => virtio.test(p.replace(/\.xz$/, ''))), 'stage 1 has virtio_net.ko.xz');
  t.true(stage1.includes(STAGE1_MODPROBE), "stage 1 has its modprobe");
  const dep = (await run('sh', ['-c', `zstd -d -q -c "${join(image, 'stage1')}" | cpio -i --quiet --to-stdout 'lib/modules/*/modules.dep'`])).stdout;
  t.regex(dep, /^kernel\/drivers\/net\/virtio_net\.ko\.xz: .*net_failover\.ko\.xz/m);
  // The single initrd begins with the plain stage 1 (cpio reads its first archive only).
  const single = (await run('sh', ['-c', `zstd -d -q -c "${join(image, 'initrd')}" 2>/dev/null | cpio -t --quiet`])).stdout.split('\n');
  t.true(single.some((p) => virtio.test(p)), 'the single initrd has virtio_net.ko');
  t.false(single.some((p) => p.endsWith('.ko.xz')), 'the single initrd has no compressed module');
  t.false(single.includes(STAGE1_MODPROBE), "the single initrd has no stage 1 modprobe");
  const root = (await run('unsquashfs', ['-l', '-d', '', join(image, 'stage2')])).stdout.split('\n');
  t.false(root.some((p) => p.endsWith('.ko.xz')), 'the fetched root has no compressed module');
  t.false(root.includes(`/${STAGE1_MODPROBE}`), 'the fetched root has no stage 1 modprobe');
});
