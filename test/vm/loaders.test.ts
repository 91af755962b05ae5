// The set-up's loaders in the boot root: layout, recorded hashes, and that the signed grub and the
// unsigned modules come from the same grub build. (That they boot: reference-chain.test.ts.)
import test from 'ava';
import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
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

test('the set-up step is a fast no-op when the loaders are in place', (t) => {
  const started = performance.now();
  const out = execFileSync('bash', ['-euo', 'pipefail', '-c', 'source scripts/setup.d/40-loaders.sh'], {
    cwd: repoRoot,
    env: { ...process.env, NETIMAGE_ROOT: repoRoot, NETIMAGE_TOOLS: join(repoRoot, '.tools'), NETIMAGE_BOOT_ROOT: bootRoot },
    encoding: 'utf8',
  });
  t.is(out.trim(), 'setup: boot loaders present');
  t.true(performance.now() - started < 1000);
});
