// opsi-local-image-debian through the agent's real code on loop disks (UEFI GPT and BIOS MBR),
// with the real cached Debian root filesystem (an ext4 chunked image): prepare (linux layout) -> a
// tampered image is refused before anything is written -> install (download cut half way and
// resumed; written by the restore engine, own UUID, grown to the partition) -> what a PC boots
// from is there. Stand-in for the server routes: see helpers/install-run.ts.
import test from 'ava';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';
import { createLoop, MiB, ROOT } from './helpers/loop.ts';
import { cachedRootfs } from '../../vm-harness/rootfs-cache.ts';

async function install(t: import('ava').ExecutionContext, firmware: 'uefi' | 'bios'): Promise<any> {
  const rootfs = await cachedRootfs(45 * 60_000);
  const loop = await createLoop(t, 3 * 1024 * MiB, 512);
  const r = await run('unshare', ['-m', '--propagation', 'private', process.execPath, join(ROOT, 'test/imaging/helpers/install-run.ts'), loop.path, firmware, rootfs.dir], {
    maxBuffer: 64 * MiB,
  });
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  t.true(out.ok, `${out.error}\n${(out.log as string[]).slice(-20).join('\n')}`);
  t.log(`${firmware}: install ${out.installSeconds?.toFixed(1)} s`);
  return out;
}

function checkCommon(t: import('ava').ExecutionContext, out: any): void {
  t.regex(out.badSha, /RootfsMismatchError: .*image\.pcl\.zst: sha256 [0-9a-f]{64} is not the 0{64}/, 'a tampered rootfs is refused');
  t.true(out.systemUnchangedByBad, 'before anything is written: nothing unverified reaches the disk');
  t.regex((out.log as string[]).join('\n'), /nothing was written: the root filesystem did not verify/);
  t.not(out.uuids.root, out.imageUuid, 'the PC\'s root file system has its own UUID, not the image\'s');
  t.true(out.systemBlocks > out.systemPartitionBytes - 8 * 1024 * 1024 && out.systemBlocks <= out.systemPartitionBytes, `grown to the partition: ${out.systemBlocks} of ${out.systemPartitionBytes} bytes`);
  t.regex((out.log as string[]).join('\n'), /root filesystem written to .*each checked before it was written/);
  t.true(out.backupUnchanged, 'the backup partition is never written');
  t.true(out.resumed.length >= 1 && /^bytes=\d+-$/.test(out.resumed[0]), `the cut download resumed with Range: ${JSON.stringify(out.resumed)}`);
  t.true((out.fstab as string).includes(`UUID=${out.uuids.root} / ext4 `), out.fstab);
  t.true((out.fstab as string).includes(`UUID=${out.uuids.swap} none swap `), out.fstab);
  t.is(out.hostname, 'pc-install-01\n');
  t.is(out.machineIdBytes, 0, 'machine-id empty: systemd makes one at first boot');
  t.deepEqual(out.sshHostKeys, [], 'no SSH host keys from the image');
  t.deepEqual(
    (out.shadow as string[]).map((l) => l.split(':').slice(0, 2).join(':')).sort(),
    ['root:$y$j9T$rootsalt$rootHashRootHashRootHashRootHashRootHas', 'user:$6$usersalt$userHashUserHashUserHash'],
    'root and user carry the server\'s hashes',
  );
  t.regex(out.userGroups[0], /^sudo:.*\buser\b/);
  t.regex(out.systemFeatures, /\bhas_journal\b/, 'the installed ext4 has its journal');
  t.is(out.systemFsck, 0, 'and checks clean');
  t.is(out.locale, 'LANG=de_DE.UTF-8\n');
  t.true(out.localeArchive > 0, 'the locale is compiled (on the server, or by locale-gen)');
  t.regex((out.log as string[]).join('\n'), /locale de_DE\.UTF-8: compiled on the server, locale-gen skipped/, 'the image built with this recipe carries it');
  t.regex(out.keyboard, /XKBLAYOUT="de"\nXKBVARIANT="nodeadkeys"/);
  t.is(out.localtime, '/usr/share/zoneinfo/Europe/Berlin');
  t.regex(out.aptProxy, /Acquire::http::Proxy "http:\/\/192\.0\.2\.1:3128";/);
  t.is(out.aptProxyMode, '600', 'a proxy URL may carry a password: not world-readable');
  t.regex(out.sources, /^deb http:\/\/deb\.debian\.org\/debian bookworm main$/m);
  t.true((out.grubCfg as string).includes(`linux /vmlinuz root=UUID=${out.uuids.root} ro`), out.grubCfg);
  t.is(out.firstBootMode, '600', 'the first-boot token file is root-only');
  t.true(out.firstBootEnabled);
  // The installed system's report script, run by bash in the tree against the stand-in server.
  t.is(out.reports.length, 1, 'reported once');
  t.is(out.reports[0].auth, `Bearer ${'b'.repeat(64)}`);
  const report = JSON.parse(out.reports[0].body);
  t.like(report, { hostname: report.hostname, secureBoot: report.bootMode === 'uefi' ? report.secureBoot : null });
  t.regex(report.kernelRelease, /^\d+\.\d+/);
  t.false(out.firstBootAfter, 'token file removed after the report');
  t.false(out.firstBootEnabledAfter, 'the unit disabled itself');
}

test('UEFI: GPT loop disk gets Debian with shim + signed grub in \\EFI\\debian and the removable path', async (t) => {
  t.timeout(50 * 60_000);
  const out = await install(t, 'uefi');
  checkCommon(t, out);
  t.true((out.fstab as string).includes(`UUID=${out.uuids.esp} /boot/efi vfat `), out.fstab);
  t.like(out.espFiles, { debianShim: true, debianGrub: true, removableShim: true, removableGrub: true });
  t.notRegex(out.espFiles.listing, /fbx64/i, 'no shim fallback: it would rewrite boot entries and reset on every boot with fresh NVRAM');
  t.is(out.espFiles.debianCfg, `search.fs_uuid ${out.uuids.root} root\nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n`);
  t.is(out.espFiles.bootCfg, out.espFiles.debianCfg);
  t.false(out.mbrHasGrub, 'no BIOS boot code on a UEFI disk');
});

test('BIOS: MBR loop disk gets Debian with grub i386-pc in the MBR and the gap after it', async (t) => {
  t.timeout(50 * 60_000);
  const out = await install(t, 'bios');
  checkCommon(t, out);
  t.false((out.fstab as string).includes('/boot/efi'));
  t.true(out.mbrHasGrub, 'grub boot.img in the MBR');
  t.is(out.mbrSignature, 'aa55');
  t.true(out.coreImgInGap, 'core.img after the MBR');
  t.true(out.biosGrubModules, 'grub modules in /boot/grub/i386-pc');
});
