// The generalized check on SYSTEM hives. The hives are STAND-INS written by test/windows/helpers/
// hive.ts (an empty regf + hivexsh): what sysprep /generalize /oobe leaves, and what a normally
// installed, running Windows has. Read with the same hivexsh the product uses.
import test from 'ava';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSystemHive, judgeGeneralized, parseRegListing, readGeneralizedState } from '../../imaging/wim/generalized.ts';
import { INSTALLED, SYSPREPPED, writeHive } from './helpers/hive.ts';

let dir = '';
test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ni-hive-'));
});
test.after.always(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('sysprepped (generalized) hive: generalized, no reasons', async (t) => {
  const hive = join(dir, 'gen');
  await writeHive(hive, SYSPREPPED);
  const s = await readGeneralizedState(hive);
  t.true(s.generalized, s.reasons.join('; '));
  t.deepEqual(s.reasons, []);
  t.like(s.values, { systemSetupInProgress: 1, setupType: 2, cmdLine: 'oobe\\windeploy.exe', generalizationState: 7 });
});

test('installed, running Windows: not generalized, each unmet value named', async (t) => {
  const hive = join(dir, 'inst');
  await writeHive(hive, INSTALLED);
  const s = await readGeneralizedState(hive);
  t.false(s.generalized);
  t.is(s.reasons.length, 3);
  t.regex(s.reasons.join('\n'), /SystemSetupInProgress is 0/);
  t.regex(s.reasons.join('\n'), /SetupType is 0/);
  t.regex(s.reasons.join('\n'), /CmdLine is ""/);
});

test('sysprep /oobe without /generalize, and a hive without the keys', async (t) => {
  const hive = join(dir, 'oobe-only');
  await writeHive(hive, { Setup: SYSPREPPED.Setup!, 'Setup\\Status\\SysprepStatus': { GeneralizationState: { dword: 4 } } });
  const s = await readGeneralizedState(hive);
  t.false(s.generalized);
  t.deepEqual(s.reasons, ['Setup\\Status\\SysprepStatus\\GeneralizationState is 4 (7 after sysprep /generalize)']);
  const empty = join(dir, 'empty');
  await writeHive(empty, { Select: { Current: { dword: 1 } } });
  const e = await readGeneralizedState(empty);
  t.false(e.generalized);
  t.is(e.reasons.length, 4);
});

test('judge and parser are pure and strict about types', (t) => {
  t.false(judgeGeneralized(new Map<string, number | string>([['SystemSetupInProgress', '1'], ['SetupType', 2], ['CmdLine', 'oobe\\windeploy.exe']]), new Map([['GeneralizationState', 7]])).generalized, 'a string "1" is not a DWORD 1');
  const m = parseRegListing('"A"=dword:0000000a\n"B"="x\\\\y \\"q\\""\n"C"=hex(2):00\n');
  t.is(m.get('A'), 10);
  t.is(m.get('B'), 'x\\y "q"');
  t.false(m.has('C'));
});

test('findSystemHive ignores case like Windows does', async (t) => {
  const root = join(dir, 'fs');
  await mkdir(join(root, 'WINDOWS/system32/Config'), { recursive: true });
  await writeHive(join(root, 'WINDOWS/system32/Config/system'), SYSPREPPED);
  t.is(await findSystemHive(root), join(root, 'WINDOWS/system32/Config/system'));
  t.is(await findSystemHive(join(dir, 'nothing')), null);
});
