// The set-up's loaders in the boot root: layout, recorded hashes, and that the signed grub and the
// unsigned modules come from the same grub build. (That they boot: reference-chain.test.ts.)
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { z } from 'zod';
import { bootRootDefault, repoRoot } from '../../vm-harness/paths.ts';

const bootRoot = bootRootDefault();
const LoadersJson = z.object({
  layout: z.number(),
  packages: z.record(z.string(), z.string()),
  loaders: z.record(z.string(), z.object({ package: z.string(), source: z.string(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
});

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

test('loaders.json lists shim, grub and core.0 with the hashes of the files on disk', async (t) => {
  const json = LoadersJson.parse(JSON.parse(await readFile(join(bootRoot, 'loaders.json'), 'utf8')));
  t.deepEqual(Object.keys(json.loaders).sort(), ['grub/i386-pc/core.0', 'grubx64.efi', 'shimx64.efi']);
  for (const [file, entry] of Object.entries(json.loaders)) t.is(await sha256(join(bootRoot, file)), entry.sha256, file);
  // Built-Using of the signed image is grub2 (= V); the modules package must be V too.
  const signed = json.packages['grub-efi-amd64-signed'] ?? '';
  t.is(signed.replace(/^1\+/, '').replace(/\+(\d+)(\+|$)/, '-$1$2'), json.packages['grub-efi-amd64-bin'] ?? 'missing');
  t.is(json.packages['grub-pc-bin'], json.packages['grub-efi-amd64-bin']);
});

test('the EFI loaders are PE images with signatures; BIOS core.0 and the module trees are complete', async (t) => {
  for (const f of ['shimx64.efi', 'grubx64.efi']) {
    const head = await readFile(join(bootRoot, f));
    t.is(head.subarray(0, 2).toString('latin1'), 'MZ', f);
    // PE optional header data directory 4 (certificate table) is non-empty in a signed image.
    const pe = head.readUInt32LE(0x3c);
    const certSize = head.readUInt32LE(pe + 24 + 112 + 4 * 8 + 4);
    t.true(certSize > 0, `${f} carries an Authenticode signature`);
  }
  const efiMods = await readdir(join(bootRoot, 'grub/x86_64-efi'));
  for (const m of ['http.mod', 'moddep.lst', 'command.lst']) t.true(efiMods.includes(m), m);
  const pcMods = await readdir(join(bootRoot, 'grub/i386-pc'));
  for (const m of ['core.0', 'serial.mod', 'normal.mod', 'moddep.lst']) t.true(pcMods.includes(m), m);
});

test('the set-up step is a no-op when the loaders are in place: nothing fetched, nothing written', async (t) => {
  // A boot root of symlinks to the real loaders (the step only reads it when it is a no-op; if it
  // were not, it must not write into the shared boot root), an empty tools dir, and an apt-get
  // stand-in that records any call and fails, so a broken no-op fails here without downloading.
  const scratch = await mkdtemp(join(tmpdir(), 'netimage-loaders-'));
  t.teardown(() => rm(scratch, { recursive: true, force: true }));
  const root = join(scratch, 'boot');
  for (const f of ['loaders.json', 'shimx64.efi', 'grubx64.efi', 'grub/i386-pc/core.0', 'grub/x86_64-efi/http.mod', 'grub/x86_64-efi/moddep.lst']) {
    await mkdir(dirname(join(root, f)), { recursive: true });
    await symlink(join(bootRoot, f), join(root, f));
  }
  const tools = join(scratch, 'tools');
  const bin = join(scratch, 'bin');
  await mkdir(tools);
  await mkdir(bin);
  const calls = join(scratch, 'apt-calls');
  await writeFile(join(bin, 'apt-get'), `#!/bin/sh\necho "$@" >> '${calls}'\nexit 1\n`, { mode: 0o755 });
  const snapshot = async (dir: string) =>
    (await readdir(dir, { recursive: true, withFileTypes: true })).map((e) => join(e.parentPath, e.name)).sort();
  const before = await snapshot(scratch);

  const out = execFileSync('bash', ['-euo', 'pipefail', '-c', 'source scripts/setup.d/40-loaders.sh'], {
    cwd: repoRoot,
    env: { ...process.env, PATH: `${bin}:${process.env['PATH']}`, NETIMAGE_ROOT: repoRoot, NETIMAGE_TOOLS: tools, NETIMAGE_BOOT_ROOT: root },
    encoding: 'utf8',
  });
  t.is(out.trim(), 'setup: boot loaders present');
  t.deepEqual(await snapshot(scratch), before, 'no file added to the boot root or the tools dir (no debs fetched)');
});
