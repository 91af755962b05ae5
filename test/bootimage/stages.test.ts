// The split of a stage into boot stage 1 and stage 2 (bootimage/builder/stages.ts) on a small
// stage built from this host's own busybox, kmod and zstd and the libraries they need, with
// stand-in module files indexed by the real depmod.
import test from 'ava';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { run } from '../../lib/process.ts';
import { parseNeeded } from '../../bootimage/builder/elf-needed.ts';
import { LIB_DIR } from '../../bootimage/builder/payload.ts';
import { MODULE_INDEX_INPUTS } from '../../bootimage/builder/kernel.ts';
import { buildHasher, HASHER_PATH } from '../../bootimage/builder/hasher.ts';
import { packStage1Modules, splitInitrdOnly, splitStages, stage1OnlyModules, STAGE1_MODULE_IMAGE, STAGE1_MOUNT_MODULES_DIR, STAGE2_PIN, STAGE2_PRESENT, writeStage2Pin } from '../../bootimage/builder/stages.ts';

const HOST_LIBS = [`/${LIB_DIR}`, `/usr/${LIB_DIR}`];

function put(stage: string, rel: string, content: string | null, from?: string): void {
  mkdirSync(dirname(join(stage, rel)), { recursive: true });
  if (from) copyFileSync(from, join(stage, rel));
  else writeFileSync(join(stage, rel), content ?? '');
}

/** A program from the host, with every library it needs (by soname) copied into the stage. */
async function putProgram(stage: string, rel: string, from: string): Promise<void> {
  put(stage, rel, null, from);
  const queue = [from];
  while (queue.length) {
    for (const soname of parseNeeded((await run('readelf', ['-d', queue.shift()!])).stdout)) {
      const dst = join(stage, LIB_DIR, soname);
      if (existsSync(dst)) continue;
      const src = HOST_LIBS.map((d) => join(d, soname)).find((p) => existsSync(p))!;
      put(stage, `${LIB_DIR}/${soname}`, null, src);
      queue.push(src);
    }
  }
}

const RELEASE = '6.1.0-x';
const E1000E = 'kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko';
const AHCI = 'kernel/drivers/ata/ahci.ko';

test('stage 1 holds init, /etc, busybox with its libraries, the NIC modules with their own index and firmware; stage 2 the rest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netimage-stages-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stage = join(dir, 'stage');
  put(stage, 'init', '#!/bin/sh\n');
  put(stage, 'etc/netimage/modules', 'ext4\n');
  const mods = `lib/modules/${RELEASE}`;
  put(stage, `${mods}/${E1000E}`, 'module');
  put(stage, `${mods}/${AHCI}`, 'module');
  for (const f of MODULE_INDEX_INPUTS) put(stage, `${mods}/${f}`, '');
  await run('depmod', ['-b', stage, RELEASE]);
  put(stage, 'lib/firmware/rtl_nic/rtl8168h-2.fw', 'nic firmware');
  put(stage, 'lib/firmware/qlogic/storage.bin', 'storage firmware');
  put(stage, `${LIB_DIR}/ld-linux-x86-64.so.2`, null, '/lib64/ld-linux-x86-64.so.2');
  put(stage, 'lib64/ld-linux-x86-64.so.2', null, '/lib64/ld-linux-x86-64.so.2');
  await putProgram(stage, 'bin/busybox', '/bin/busybox');
  await putProgram(stage, 'bin/kmod', '/bin/kmod');
  await putProgram(stage, 'usr/bin/zstd', '/usr/bin/zstd');
  // stage 1's hasher (static, no libraries): init checks stage 2 with it
  await buildHasher(join(stage, HASHER_PATH), join(dir, 'hasher'));
  mkdirSync(join(stage, 'sbin'), { recursive: true });
  symlinkSync('/bin/kmod', join(stage, 'sbin/modprobe'));
  symlinkSync('busybox', join(stage, 'bin/cat'));
  // stage 2 only: node, the agent, a real mount that replaces busybox's applet
  put(stage, 'usr/bin/node', 'node');
  put(stage, 'agent/agent.mjs', 'agent');
  put(stage, 'bin/mount', 'util-linux mount');

  const stage1 = join(dir, 'stage1');
  const split = await splitStages(stage, stage1, { release: RELEASE, modules: [E1000E], firmware: ['lib/firmware/rtl_nic/rtl8168h-2.fw'], indexInputs: MODULE_INDEX_INPUTS });
  // (this host's busybox is dynamic: its libc comes along; Debian's busybox-static needs none)
  for (const rel of ['init', 'etc/netimage/modules', `${mods}/${E1000E}`, `${mods}/modules.builtin`, 'lib/firmware/rtl_nic/rtl8168h-2.fw', 'bin/busybox', HASHER_PATH, 'lib64/ld-linux-x86-64.so.2', `${LIB_DIR}/libc.so.6`]) {
    t.true(existsSync(join(stage1, rel)), `stage 1 has ${rel}`);
    t.false(split.stage2Paths.includes(rel), `stage 2 leaves out ${rel}`);
  }
  // Stage 1's module index covers its own modules; stage 2's full index replaces it when unpacked.
  t.true(readFileSync(join(stage1, mods, 'modules.dep'), 'utf8').includes(E1000E));
  t.false(readFileSync(join(stage1, mods, 'modules.dep'), 'utf8').includes(AHCI));
  t.true(existsSync(join(stage1, mods, 'modules.alias')));
  for (const rel of [`${mods}/${AHCI}`, `${mods}/modules.dep`, `${mods}/modules.alias`, 'lib/firmware/qlogic/storage.bin', 'bin/kmod', 'usr/bin/zstd']) {
    t.true(split.stage2Paths.includes(rel), `stage 2 has ${rel}`);
    if (!rel.startsWith(`${mods}/modules.`)) t.false(existsSync(join(stage1, rel)), `stage 1 leaves out ${rel}`);
  }
  // Until stage 2 brings kmod, busybox's modprobe loads the NIC drivers.
  t.is(readlinkSync(join(stage1, 'sbin/modprobe')), relative(join(stage1, 'sbin'), join(stage1, 'bin/busybox')));
  t.is(readlinkSync(join(stage1, 'bin/cat')), 'busybox');
  // Until stage 2 brings util-linux mount, stage 1 mounts with busybox's applet.
  t.true(lstatSync(join(stage1, 'bin/mount')).isSymbolicLink());
  for (const rel of ['usr/bin/node', 'agent', 'agent/agent.mjs', 'bin/mount', STAGE2_PRESENT]) t.true(split.stage2Paths.includes(rel), `stage 2 has ${rel}`);
  t.false(existsSync(join(stage1, 'usr/bin/node')));
  t.false(existsSync(join(stage1, STAGE2_PRESENT)), 'stage 1 alone must fetch stage 2');
  t.false(split.stage2Paths.includes('usr'), 'directories stage 1 already has are not repeated');
  t.true(split.stage2Paths.indexOf('agent') < split.stage2Paths.indexOf('agent/agent.mjs'), 'parents before children');
  writeStage2Pin(stage1, 'ab'.repeat(32), 1234, 'zstd -d -q -c');
  t.is((await run('sh', ['-c', `read -r sum bytes unpack < "${join(stage1, STAGE2_PIN)}"; echo "$sum|$bytes|$unpack"`])).stdout.trim(), `${'ab'.repeat(32)}|1234|zstd -d -q -c`);
});

test('the data-centre NIC drivers go in the single initrd only, not in the stage 2 stage 1 fetches', (t) => {
  const mods = `lib/modules/${RELEASE}`;
  const paths = [
    'usr/bin/node',
    `${mods}/kernel/drivers/net/ethernet/mellanox`,
    `${mods}/kernel/drivers/net/ethernet/mellanox/mlx5/core/mlx5_core.ko`,
    `${mods}/kernel/drivers/net/ethernet/broadcom/cnic.ko`,
    `${mods}/kernel/drivers/net/ethernet/broadcom/tg3.ko`,
    `${mods}/kernel/drivers/net/ethernet/mellanox-not/x.ko`,
    `${mods}/${AHCI}`,
    `${mods}/modules.dep`,
  ];
  const { fetched, initrdOnly } = splitInitrdOnly(paths, RELEASE, ['kernel/drivers/net/ethernet/mellanox/', 'kernel/drivers/net/ethernet/broadcom/cnic.ko']);
  t.deepEqual(initrdOnly, paths.slice(1, 4));
  t.deepEqual(fetched, [paths[0], ...paths.slice(4)]);
});

test("the fetched stage 2 root leaves out stage 1's NIC drivers but keeps the helpers other drivers share", (t) => {
  const stage1 = [
    E1000E,
    'kernel/drivers/net/usb/r8152.ko',
    'kernel/drivers/net/phy/libphy.ko',
    'kernel/drivers/net/phy/realtek.ko',
    'kernel/drivers/net/mdio/of_mdio.ko',
    'kernel/drivers/net/pcs/pcs_xpcs.ko',
    'kernel/drivers/net/virtio_net.ko',
    'kernel/drivers/net/mii.ko',
    'kernel/drivers/usb/core/usbcore.ko',
    'kernel/drivers/usb/host/xhci-pci.ko',
    'kernel/drivers/block/loop.ko',
    'kernel/fs/squashfs/squashfs.ko',
  ];
  t.deepEqual(stage1OnlyModules(stage1, RELEASE), [
    `lib/modules/${RELEASE}/${E1000E}`,
    `lib/modules/${RELEASE}/kernel/drivers/net/usb/r8152.ko`,
    `lib/modules/${RELEASE}/kernel/drivers/net/phy/libphy.ko`,
    `lib/modules/${RELEASE}/kernel/drivers/net/phy/realtek.ko`,
    `lib/modules/${RELEASE}/kernel/drivers/net/mdio/of_mdio.ko`,
    `lib/modules/${RELEASE}/kernel/drivers/net/pcs/pcs_xpcs.ko`,
  ]);
  t.deepEqual(stage1OnlyModules([AHCI], RELEASE), []);
});

test("stage 1 as grub loads it carries its modules as one squashfs image, the index and the two modules that mount it beside it", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netimage-stages-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stage1 = join(dir, 'stage1');
  const mods = `lib/modules/${RELEASE}`;
  const LOOP = 'kernel/drivers/block/loop.ko';
  const SQUASHFS = 'kernel/fs/squashfs/squashfs.ko';
  for (const m of [E1000E, LOOP, SQUASHFS]) put(stage1, `${mods}/${m}`, `module ${m}`);
  for (const f of MODULE_INDEX_INPUTS) put(stage1, `${mods}/${f}`, '');
  await run('depmod', ['-b', stage1, RELEASE]);
  put(stage1, 'lib/firmware/rtl_nic/rtl8168h-2.fw', 'nic firmware');
  put(stage1, 'init', '#!/bin/sh\n');

  const out = join(dir, 'stage1-tftp');
  const bytes = await packStage1Modules(stage1, RELEASE, out);
  t.true(bytes > 0);
  const inImage = (await run('unsquashfs', ['-l', '-d', '', join(out, STAGE1_MODULE_IMAGE)])).stdout.split('\n');
  for (const m of [E1000E, LOOP, SQUASHFS]) t.true(inImage.includes(`/${m.slice('kernel/'.length)}`), `the image has ${m}`);
  // The kernel tree is the image's mount point, empty; the index, firmware and init stay as files.
  t.deepEqual(readdirSync(join(out, mods, 'kernel')), []);
  t.true(readFileSync(join(out, mods, 'modules.dep'), 'utf8').includes(E1000E));
  t.is(readFileSync(join(out, 'lib/firmware/rtl_nic/rtl8168h-2.fw'), 'utf8'), 'nic firmware');
  t.true(existsSync(join(out, 'init')));
  t.is(readFileSync(join(out, STAGE1_MOUNT_MODULES_DIR, 'loop.ko'), 'utf8'), `module ${LOOP}`);
  t.is(readFileSync(join(out, STAGE1_MOUNT_MODULES_DIR, 'squashfs.ko'), 'utf8'), `module ${SQUASHFS}`);
  // The single initrd's form is untouched.
  t.true(existsSync(join(stage1, mods, E1000E)));
  // The same stage 1 gives the same image.
  const again = join(dir, 'again');
  await packStage1Modules(stage1, RELEASE, again);
  t.deepEqual(readFileSync(join(again, STAGE1_MODULE_IMAGE)), readFileSync(join(out, STAGE1_MODULE_IMAGE)));

  // init's paths are these.
  const init = readFileSync(new URL('../../bootimage/init/init', import.meta.url), 'utf8');
  t.true(init.includes(`S1_MODULES=/${STAGE1_MODULE_IMAGE}\n`));
  t.true(init.includes(`insmod /${STAGE1_MOUNT_MODULES_DIR}/loop.ko`) && init.includes(`insmod /${STAGE1_MOUNT_MODULES_DIR}/squashfs.ko`));

  // A squashfs that needed another module would not load by insmod alone: the build says so.
  const depFile = join(stage1, mods, 'modules.dep');
  const depText = readFileSync(depFile, 'utf8');
  writeFileSync(depFile, depText.replace(`${SQUASHFS}:`, `${SQUASHFS}: kernel/lib/zstd/zstd_decompress.ko`));
  await t.throwsAsync(packStage1Modules(stage1, RELEASE, join(dir, 'deps')), { message: /squashfs needs kernel\/lib\/zstd\/zstd_decompress\.ko: init insmods it alone/ });
  writeFileSync(depFile, depText);

  // Without squashfs.ko init could not mount the image: the build says so.
  rmSync(join(stage1, mods, SQUASHFS));
  await t.throwsAsync(packStage1Modules(stage1, RELEASE, join(dir, 'broken')), { message: /squashfs\.ko is missing: init needs it to mount the module image/ });
});
