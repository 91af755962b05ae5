// Stage 1's sha256 (bootimage/native/sha256.c, built by bootimage/builder/hasher.ts): the same
// digest as node's crypto for lengths around every padding and read-buffer boundary, static
// with no libraries (stage 1 has no libc), and a clear failure for a file it cannot read.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runAllowFailure } from '../../lib/process.ts';
import { buildHasher } from '../../bootimage/builder/hasher.ts';

const MIB = 1 << 20;

test('the hasher gives sha256 for every padding and buffer boundary, needs no library, and fails clearly', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netimage-hasher-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const hasher = join(dir, 'sha256');
  await buildHasher(hasher, join(dir, 'objects'));
  t.false(/\(NEEDED\)/.test((await runAllowFailure('readelf', ['-d', hasher])).stdout), 'no shared libraries');

  // 55/56 and 119/120: the length still fits the last block or needs one more; 1 MiB: the read buffer.
  const data = randomBytes(3 * MIB + 77);
  for (const n of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, MIB - 1, MIB, MIB + 63, MIB + 64, 3 * MIB + 77]) {
    const file = join(dir, `f${n}`);
    writeFileSync(file, data.subarray(0, n));
    const want = createHash('sha256').update(data.subarray(0, n)).digest('hex');
    t.is((await run(hasher, [file])).stdout, `${want}  ${file}`, `${n} bytes`);
  }
  t.is((await run(hasher, [join(dir, 'f0')])).stdout.split(' ')[0], 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

  const missing = await runAllowFailure(hasher, [join(dir, 'absent')]);
  t.is(missing.exitCode, 1);
  t.is(missing.stdout, '');
  t.regex(missing.stderr, /sha256: cannot open .*absent/);
  const usage = await runAllowFailure(hasher, []);
  t.is(usage.exitCode, 2);
  t.regex(usage.stderr, /usage: sha256 FILE/);
});
