// `netimage doctor` checks the boot files the configured boot.initrd needs: with two stages (the
// default) grub loads stage 1 and init fetches stage 2, so a boot root that only has the single
// initrd is a problem there, and none with boot.initrd=single.
import test from 'ava';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../bootserver/config/load.ts';
import { runDoctor } from '../../bootserver/cli/doctor.ts';

async function bootRootWith(files: string[]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'netimage-test-doctor-'));
  await mkdir(join(root, 'netimage'), { recursive: true });
  for (const f of files) await writeFile(join(root, 'netimage', f), f === 'manifest.json' ? '{"kernel":{"version":"6.1"}}' : 'x');
  return root;
}

async function bootImageCheck(root: string, initrd?: 'single' | 'two-stage') {
  const config = loadConfig({
    env: {},
    file: null,
    overrides: {
      dataDir: root,
      'paths.bootRoot': root,
      'http.host': '127.0.0.1',
      'http.port': 0,
      'tftp.enabled': false,
      'dhcp.mode': 'off',
      ...(initrd ? { 'boot.initrd': initrd } : {}),
    },
  });
  const checks = await runDoctor(config);
  return checks.find((c) => c.name === 'boot image')!;
}

test('a boot root with the single initrd only: a problem with the default two stages, fine with boot.initrd=single', async (t) => {
  const root = await bootRootWith(['kernel', 'initrd', 'manifest.json']);
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const def = await bootImageCheck(root);
  t.false(def.ok);
  t.regex(def.detail, /missing in .*: netimage\/stage1, netimage\/stage2 \(run: bash run\.sh setup\)/);
  const single = await bootImageCheck(root, 'single');
  t.true(single.ok, single.detail);
});

test('a boot root with both stages: fine with the default, the single initrd missing with boot.initrd=single', async (t) => {
  const root = await bootRootWith(['kernel', 'stage1', 'stage2', 'manifest.json']);
  t.teardown(() => rm(root, { recursive: true, force: true }));
  t.true((await bootImageCheck(root)).ok);
  const single = await bootImageCheck(root, 'single');
  t.false(single.ok);
  t.regex(single.detail, /missing in .*: netimage\/initrd /);
});
