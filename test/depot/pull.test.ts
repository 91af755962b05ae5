// A site server's depot entries pulled from the main server over HTTP (bootserver/depot/pull.ts):
// two real servers on loopback, the main one holding an entry; Range resume, sha256 checks.
import test from 'ava';
import { randomBytes, createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Depot } from '../../bootserver/depot/depot.ts';
import { pullEntry } from '../../bootserver/depot/pull.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tempdir.ts';
import { startRangeAnswersServer, type RangeAnswer } from '../helpers/range-answers-server.ts';

const BIG = randomBytes(3 * 1024 * 1024);
const SMALL = Buffer.from('small file\n');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let main: TestServer | undefined;
let site: TestServer | undefined;
test.before(async () => {
  main = await startTestServer();
  await main.server.osImages.depot.create('rootfs', 'pull-test', { built: 'here' }, async (dir) => {
    await writeFile(join(dir, 'big.bin'), BIG);
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'small.txt'), SMALL);
  });
  await main.server.osImages.depot.create('rootfs', 'to-damage', {}, async (dir) => writeFile(join(dir, 'big.bin'), BIG));
  site = await startTestServer({ overrides: { 'depot.upstream.url': main.url, 'depot.upstream.token': main.adminToken } });
});
test.after.always(async () => {
  await site?.stop();
  await main?.stop();
});

test.serial('depot pull at a site server copies the entry from the main server, checked; PCs then read it at their site; a second pull fetches nothing', async (t) => {
  const pulled = await site!.api('POST', '/api/v1/depot/rootfs/pull-test/pull');
  t.is(pulled.status, 200, pulled.text);
  t.like(pulled.body, { id: 'rootfs/pull-test', bytes: BIG.length + SMALL.length, meta: { built: 'here', pulledFrom: main!.url } });
  t.deepEqual(
    pulled.body.files.map((f: { path: string; sha256: string }) => [f.path, f.sha256]).sort(),
    [
      ['big.bin', sha(BIG)],
      ['sub/small.txt', sha(SMALL)],
    ],
  );
  const local = await fetch(`${site!.url}/depot/v1/rootfs/pull-test/big.bin`, { headers: { authorization: `Bearer ${site!.adminToken}` } });
  t.is(local.status, 200);
  t.true(Buffer.from(await local.arrayBuffer()).equals(BIG), 'the site serves the same bytes');
  const again = await site!.api('POST', '/api/v1/depot/rootfs/pull-test/pull');
  t.is(again.body.created, pulled.body.created, 'the entry that is here is kept as it is');
});

test.serial('a transfer cut off part-way goes on with Range from where it stopped', async (t) => {
  const depot = await Depot.open(await tempDir(t, 'netimage-pull-'));
  const requests: { range: string | null; status: number }[] = [];
  let cut = false;
  // A stand-in for a WAN link that drops: the first transfer of big.bin ends after 1 MiB.
  const dropping: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const range = new Headers(init?.headers).get('range');
    if (!String(input).endsWith('/big.bin')) return res;
    requests.push({ range, status: res.status });
    if (cut) return res;
    cut = true;
    const reader = res.body!.getReader();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done || sent >= 1024 * 1024) {
          await reader.cancel();
          return controller.error(new Error('connection reset (stand-in)'));
        }
        const part = value.subarray(0, 1024 * 1024 - sent);
        sent += part.length;
        controller.enqueue(part);
      },
    });
    return new Response(body, { status: res.status, headers: res.headers });
  };
  const entry = await pullEntry(depot, { url: main!.url, token: main!.adminToken }, 'rootfs', 'pull-test', { fetch: dropping });
  t.is(requests.length, 2);
  t.deepEqual(requests[0], { range: null, status: 200 });
  // From what reached the disk before the cut (at most the 1 MiB sent).
  const from = Number(/^bytes=(\d+)-$/.exec(requests[1]!.range ?? '')?.[1]);
  t.true(from > 0 && from <= 1024 * 1024, `resumed at ${from}`);
  t.is(requests[1]!.status, 206);
  t.true((await readFile(join(entry.dir, 'big.bin'))).equals(BIG));
});

for (const onRange of ['wrong-start', 'whole'] as RangeAnswer[]) {
  test.serial(`a resume answered ${onRange === 'whole' ? 'with the whole file (200)' : 'with a 206 for another range'} starts the file over from byte 0; the entry verifies`, async (t) => {
    // An upstream that cuts big.bin after 1 MiB, then answers the Range request wrongly.
    const manifest = await fetch(`${main!.url}/depot/v1/rootfs/pull-test/manifest.json`, { headers: { authorization: `Bearer ${main!.adminToken}` } });
    const prefix = '/depot/v1/rootfs/pull-test';
    const files = { [`${prefix}/manifest.json`]: Buffer.from(await manifest.arrayBuffer()), [`${prefix}/big.bin`]: BIG, [`${prefix}/sub/small.txt`]: SMALL };
    const upstream = await startRangeAnswersServer(t, files, 1024 * 1024, onRange);
    const depot = await Depot.open(await tempDir(t, 'netimage-pull-'));
    const entry = await pullEntry(depot, { url: upstream.url, token: 'unused' }, 'rootfs', 'pull-test', { attempts: 4 });
    t.true((await readFile(join(entry.dir, 'big.bin'))).equals(BIG));
    const big = upstream.requests.filter((q) => q.path.endsWith('/big.bin')).map((q) => `${q.range ?? 'whole'} ${q.status}`);
    t.regex(big[1] ?? '', /^bytes=[1-9]\d*- (206|200)$/, 'the second request resumed');
    t.deepEqual(big.slice(2), onRange === 'wrong-start' ? ['whole 200'] : [], big.join(', '));
  });
}

test.serial('a file whose bytes do not match its sha256 upstream is refused and nothing is kept; without an upstream, pull is refused', async (t) => {
  const upstreamFile = join((await main!.server.osImages.depot.require('rootfs', 'to-damage')).dir, 'big.bin');
  const damaged = Buffer.from(BIG);
  damaged[12345] = damaged[12345]! ^ 0xff; // same size: only the hash can tell
  await writeFile(upstreamFile, damaged);
  const depot = await Depot.open(await tempDir(t, 'netimage-pull-'));
  const error = await t.throwsAsync(pullEntry(depot, { url: main!.url, token: main!.adminToken }, 'rootfs', 'to-damage'));
  t.regex(error!.message, /big\.bin has sha256 [0-9a-f]{64}, its manifest says/);
  t.is(await depot.get('rootfs', 'to-damage'), null);
  t.deepEqual(await depot.list(), []);

  const wrongToken = await t.throwsAsync(pullEntry(depot, { url: main!.url, token: 'not-a-token' }, 'rootfs', 'pull-test'));
  t.regex(wrongToken!.message, /refused the token/);
  const refused = await main!.api('POST', '/api/v1/depot/rootfs/pull-test/pull');
  t.is(refused.status, 400);
  t.regex(refused.body.message, /no depot upstream/);
});

test.serial('an entry bigger than the free space of the depot is refused before any file is fetched; nothing is kept', async (t) => {
  const depot = await Depot.open(await tempDir(t, 'netimage-pull-'));
  const requests: string[] = [];
  // A stand-in for a main server whose entry is larger than this disk: its manifest says big.bin has 4 PiB.
  const hugeEntry: typeof fetch = async (input, init) => {
    requests.push(String(input));
    const res = await fetch(input, init);
    if (!String(input).endsWith('/manifest.json')) return res;
    const manifest = (await res.json()) as { files: { path: string; size: number }[] };
    for (const f of manifest.files) if (f.path === 'big.bin') f.size = 2 ** 52;
    return Response.json(manifest);
  };
  const error = await t.throwsAsync(pullEntry(depot, { url: main!.url, token: main!.adminToken }, 'rootfs', 'pull-test', { fetch: hugeEntry }));
  t.regex(error!.message, /not enough space in the depot .* for rootfs\/pull-test/);
  t.deepEqual(requests.map((u) => u.split('/').pop()), ['manifest.json'], 'no file was fetched');
  t.deepEqual(await depot.list(), []);
});
