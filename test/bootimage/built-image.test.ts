// The boot image `bash run.sh setup` built (var/boot/netimage, or NETIMAGE_BOOT_ROOT) holds the
// programs its code looks for by path: the chunk helpers in stage 2 (imaging/chunked/native.ts; an
// image without them silently takes Node's slower path and delta restores lose their record
// tables, as images built from 8c81cdd until Session 12 did) and stage 1's hasher in both stages.
// Read with unsquashfs and cpio, nothing mounted.
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { CHUNK_HELPERS, BOOT_IMAGE_HELPER_DIR } from '../../imaging/chunked/native.ts';
import { HASHER_PATH } from '../../bootimage/builder/hasher.ts';
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
