// The local-boot Grub configs (pure rendering): a PC with an installed Linux boots it through the
// ESP's shim (UEFI, with or without Secure Boot) or its disk's MBR (BIOS); anything else keeps
// the generic search; both end in the same clean fallback on a disk with no OS.
import test from 'ava';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../lib/paths.ts';
import { run } from '../../lib/process.ts';
import { tempDir } from '../helpers/tempdir.ts';
import { GrubRenderer, UEFI_LOCAL_LOADERS, uefiLoadersFor } from '../../bootserver/boot/grub-render.ts';

const renderer = new GrubRenderer(join(repoRoot, 'templates'), ['mac']);
const local = (firmware: 'uefi' | 'bios', target?: 'installed-linux' | 'any') => renderer.renderLocal({ firmware, clientLabel: 'pc01', reason: 'no pending netboot action', ...(target ? { target } : {}) });

test('UEFI, installed Linux: shim first (Secure Boot), then the removable path, then the generic loaders; each once', (t) => {
  const loaders = uefiLoadersFor('installed-linux');
  t.deepEqual(loaders.slice(0, 3), ['/EFI/debian/shimx64.efi', '/EFI/ubuntu/shimx64.efi', '/EFI/BOOT/BOOTX64.EFI']);
  t.is(new Set(loaders).size, loaders.length);
  t.deepEqual([...loaders].sort(), [...UEFI_LOCAL_LOADERS].sort(), 'the same loaders, another order');
  t.true(loaders.indexOf('/EFI/debian/shimx64.efi') < loaders.indexOf('/EFI/debian/grubx64.efi'), 'grubx64 directly would be refused with Secure Boot on');
  const cfg = local('uefi', 'installed-linux');
  t.true(cfg.includes(`for netimage_loader in ${loaders.join(' ')} ; do`));
  t.regex(cfg, /set root=\$netimage_esp\n\s+chainloader \(\$netimage_esp\)\$netimage_loader\n\s+boot/, 'root on the ESP: the chainloader gives shim the device path of $root');
  t.regex(cfg, /no OS loader found on the local disks; leaving to the firmware"\nexit\n$/, 'the clean fallback stays');
});

test('UEFI, nothing installed by netimage: the generic order (Windows first), as before', (t) => {
  t.deepEqual(uefiLoadersFor('any'), UEFI_LOCAL_LOADERS);
  t.is(local('uefi'), local('uefi', 'any'));
  t.true(local('uefi').includes(`for netimage_loader in ${UEFI_LOCAL_LOADERS.join(' ')} ; do`));
});

test('BIOS, installed Linux: chainload the MBR of the disk holding grub\'s core.img, before the generic search', (t) => {
  const cfg = local('bios', 'installed-linux');
  const mbr = cfg.indexOf('/boot/grub/i386-pc/core.img');
  t.true(mbr > 0);
  t.true(mbr < cfg.indexOf('/bootmgr'), 'before Windows and the generic search');
  t.regex(cfg, /regexp --set=1:netimage_disk '\^\(\[\^,\]\+\)' "\$netimage_root"\n\s+echo "netimage: chainloading the MBR of \(\$netimage_disk\)"\n(?:\s+#.*\n)*\s+set root=\(\$netimage_disk\)\n\s+chainloader \(\$netimage_disk\)\+1\n\s+boot\n/);
  t.regex(cfg, /no bootable local disk; leaving to the firmware"\nexit\n$/, 'the clean fallback stays');
});

test('BIOS, nothing installed by netimage: no MBR chainload by core.img, the generic search as before', (t) => {
  const cfg = local('bios');
  t.false(cfg.includes('core.img'));
  t.regex(cfg, /search --no-floppy --file --set=netimage_root \/bootmgr/);
  t.regex(cfg, /set root=\(hd0\)\nchainloader \+1/);
});

test('every local-boot config is valid Grub script (grub-script-check of the grub-common the setup fetched)', async (t) => {
  // The same grub-common deb the loaders come from (scripts/setup.d/40-loaders.sh), unpacked, never installed.
  // (The setup keeps it in .tools/debs; a .tools rebuilt under an existing var/boot has none, as
  // the loaders count as present: then the same package comes from apt.)
  const dir = await tempDir(t, 'grub-common');
  let debs = join(repoRoot, '.tools', 'debs');
  let deb = (await readdir(debs).catch(() => [] as string[])).filter((f) => /^grub-common_.*\.deb$/.test(f)).sort().at(-1);
  if (!deb) {
    debs = await tempDir(t, 'grub-common-deb');
    await run('apt-get', ['download', '-qq', 'grub-common'], { cwd: debs });
    deb = (await readdir(debs)).find((f) => /^grub-common_.*\.deb$/.test(f));
    if (!deb) return t.fail('apt-get download grub-common gave no deb');
  }
  await run('dpkg-deb', ['-x', join(debs, deb), dir]);
  for (const firmware of ['uefi', 'bios'] as const) {
    for (const target of ['installed-linux', 'any'] as const) {
      const file = join(dir, `${firmware}-${target}.cfg`);
      await writeFile(file, local(firmware, target));
      await t.notThrowsAsync(run(join(dir, 'usr/bin/grub-script-check'), [file]), `${firmware} ${target}`);
    }
  }
});
