// The boot image `bash run.sh setup` built (var/boot/netimage, or NETIMAGE_BOOT_ROOT) holds the
// programs its code looks for by path: the chunk helpers in stage 2 (imaging/chunked/native.ts; an
// image without them silently takes Node's slower path and delta restores lose their record
// tables, as images built from 8c81cdd until Session 12 did) and stage 1's hasher in both stages.
// Read with unsquashfs and cpio, nothing mounted.
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { CHUNK_HELPERS, BOOT_IMAGE_HELPER_DIR } from '../../imaging/chunked/native.ts';
import { HASHER_PATH } from '../../bootimage/builder/hasher.ts';
import { STAGE1_MODULE_IMAGE, STAGE1_MOUNT_MODULES_DIR } from '../../bootimage/builder/stages.ts';
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

test("stage 1 carries its modules as one squashfs image with every NIC driver; the single initrd carries them as files", async (t) => {
  const manifest = JSON.parse(readFileSync(join(image, 'manifest.json'), 'utf8')) as { kernel: { release: string }; modules: { stage1: { modules: number } } };
  const kernelDir = `lib/modules/${manifest.kernel.release}/kernel`;
  const dir = mkdtempSync(join(tmpdir(), 'netimage-built-stage1-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await run('sh', ['-c', `cd "${dir}" && zstd -d -q -c "${join(image, 'stage1')}" | cpio -i -d --quiet ${STAGE1_MODULE_IMAGE} '${STAGE1_MOUNT_MODULES_DIR}/*' 'lib/modules/*'`]);
  const files = (await run('sh', ['-c', `cd "${dir}" && find . -type f | sed 's#^./##'`])).stdout.split('\n');
  t.false(files.some((f) => f.startsWith(`${kernelDir}/`)), 'no module file unpacked by the kernel');
  t.true(files.includes(`lib/modules/${manifest.kernel.release}/modules.dep`), 'the index beside the image');
  t.true(existsSync(join(dir, STAGE1_MOUNT_MODULES_DIR, 'loop.ko')) && existsSync(join(dir, STAGE1_MOUNT_MODULES_DIR, 'squashfs.ko')));
  const inImage = (await run('unsquashfs', ['-l', '-d', '', join(dir, STAGE1_MODULE_IMAGE)])).stdout.split('\n').filter((l) => l.endsWith('.ko'));
  t.is(inImage.length, manifest.modules.stage1.modules, 'every module of stage 1 is in the image');
  t.true(inImage.includes('/drivers/net/ethernet/intel/e1000e/e1000e.ko') && inImage.includes('/drivers/net/usb/r8152.ko'));
  // The single initrd starts with stage 1 as files (its stage 2 adds the other modules beside them).
  const initrd = (await run('sh', ['-c', `zstd -d -q -c "${join(image, 'initrd')}" | cpio -t --quiet 2>/dev/null | grep -c '^${kernelDir}/.*\\.ko$' || true`])).stdout.trim();
  t.true(Number(initrd) >= manifest.modules.stage1.modules, `the single initrd has the module files (${initrd})`);
});

test("grub's TFTP per two-stage boot (kernel + stage 1) stays within #15's 15 MB", (t) => {
  const manifest = JSON.parse(readFileSync(join(image, 'manifest.json'), 'utf8')) as { kernel: { bytes: number }; stages: { stage1: { bytes: number } } };
  const tftp = manifest.kernel.bytes + manifest.stages.stage1.bytes;
  t.is(statSync(join(image, 'stage1')).size, manifest.stages.stage1.bytes);
  t.is(statSync(join(image, 'kernel')).size, manifest.kernel.bytes);
  t.true(tftp <= 15_000_000, `kernel ${manifest.kernel.bytes} + stage 1 ${manifest.stages.stage1.bytes} = ${tftp} bytes`);
  t.log(`TFTP per boot: ${(tftp / 1e6).toFixed(2)} MB`);
});
