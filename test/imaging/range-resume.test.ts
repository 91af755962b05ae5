// Resumed downloads check the answer to their Range request (lib/http-resume.ts): a 206 must
// start at the offset asked for, a 200 is the whole file from byte 0. Against a real loopback
// server that cuts the first transfer and then answers the resume wrongly.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { resumeAnswer } from '../../lib/http-resume.ts';
import { downloadVerified, type FetchServerFile } from '../../imaging/linux-install/rootfs.ts';
import { receiveSeed } from '../../imaging/seed/receiver.ts';
import { directorySink } from '../../imaging/seed/sink.ts';
import { buildManifest } from '../../lib/seed/manifest.ts';
import { startRangeAnswersServer, type RangeAnswer } from '../helpers/range-answers-server.ts';
import { tempDir } from '../helpers/tempdir.ts';

test('resumeAnswer: a 206 only from the offset asked for; a 200 is the whole file; anything else is not usable', (t) => {
  t.deepEqual(resumeAnswer(206, 'bytes 1000-4095/4096', 1000), { use: 'tail' });
  t.deepEqual(resumeAnswer(206, 'bytes 0-99/4096', 0), { use: 'tail' });
  t.deepEqual(resumeAnswer(200, null, 1000), { use: 'whole' });
  t.deepEqual(resumeAnswer(206, 'bytes 0-4095/4096', 1000), { use: 'none', reason: 'HTTP 206 for bytes 0-4095, not from byte 1000 as asked' });
  t.deepEqual(resumeAnswer(206, null, 1000), { use: 'none', reason: 'HTTP 206 for bytes "", not from byte 1000 as asked' });
  t.deepEqual(resumeAnswer(206, 'bytes 1000-99/4096', 1000), { use: 'none', reason: 'HTTP 206 for bytes "bytes 1000-99/4096", not from byte 1000 as asked' });
  t.deepEqual(resumeAnswer(416, 'bytes */4096', 1000), { use: 'none', reason: 'HTTP 416' });
});

for (const onRange of ['wrong-start', 'whole'] as RangeAnswer[]) {
  test(`rootfs download: a resume answered ${onRange === 'whole' ? 'with the whole file (200)' : 'with a 206 for another range'} starts over at byte 0 and the file verifies`, async (t) => {
    const body = randomBytes(512 * 1024);
    const sha256 = createHash('sha256').update(body).digest('hex');
    const path = '/depot/v1/rootfs/x/image.pcl.zst';
    const server = await startRangeAnswersServer(t, { [path]: body }, 200_000, onRange);
    const fetchFile: FetchServerFile = (p, headers, signal) => fetch(server.url + p, { headers, ...(signal ? { signal } : {}) });
    const file = join(await tempDir(t, 'range'), 'image.pcl.zst');
    const log: string[] = [];
    const r = await downloadVerified({ fetchFile, source: { path, sha256, size: body.length }, file, log: (l) => log.push(l), attempts: 4 });
    t.is(r.sha256, sha256);
    t.true((await readFile(file)).equals(body), 'byte for byte');
    const statuses = server.requests.map((q) => `${q.range ?? 'whole'} ${q.status}`);
    t.regex(statuses[1] ?? '', /^bytes=[1-9]\d*- (206|200)$/, 'the second request resumed');
    if (onRange === 'wrong-start') {
      t.deepEqual(statuses.slice(2), ['whole 200'], 'after the wrong 206, a fresh download from byte 0');
      t.regex(log.join('\n'), /HTTP 206 for bytes \d+-\d+, not from byte \d+ as asked; starting over/);
    } else {
      t.is(statuses.length, 2, 'the 200 itself was used');
      t.regex(log.join('\n'), /got the whole file \(HTTP 200\); starting over/);
    }
  });
}

test('room seeding\'s HTTP repair: a 206 for another range than the piece asked for is refused clearly, not taken as the piece', async (t) => {
  const dir = await tempDir(t, 'range-seed');
  const body = randomBytes(256 * 1024);
  await mkdir(join(dir, 'src'));
  await writeFile(join(dir, 'src', 'image.bin'), body);
  const manifest = await buildManifest(join(dir, 'src'), ['image.bin'], 64 * 1024);
  // Serves the ranges asked for, except that a piece after the first comes 1000 bytes early.
  const server = createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m) return void res.end(body);
    const [asked, end] = [Number(m[1]), Number(m[2])];
    const start = asked > 0 ? asked - 1000 : asked;
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${body.length}`, 'content-length': String(end - start + 1) });
    res.end(body.subarray(start, end + 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  await mkdir(join(dir, 'out'));
  const sink = await directorySink(join(dir, 'out'), manifest);
  const error = await t.throwsAsync(
    receiveSeed({ manifest, baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, group: '239.255.62.1', port: 0, localAddress: '127.0.0.1', sink, joinTimeoutMs: 200, idleTimeoutMs: 200 }),
  );
  t.regex(error!.message, /: HTTP 206 for bytes \d+-\d+, not from byte \d+ as asked for piece \d+$/);
});
