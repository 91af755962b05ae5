// Golden images (issue 14 item 2) with real parts: a loop-device PC backs up and uploads its
// image into a real in-process server's depot (opsi-local-image-backup upload_to_server), a second
// loop-device PC fetches it (opsi-local-image-restore server_image) and restores it, and its files
// verify. Cut uploads and fetches resume; a corrupted file is refused; a half upload is never listed.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { agentCall, issueJob, startTestServer, type TestServer } from '../helpers/server.ts';
import { runProductOnLoop } from './helpers/run-product.ts';
import { createLoop, helper, MiB } from './helpers/loop.ts';
import { fetchGoldenImage } from '../../imaging/golden.ts';
import { GOLDEN_FILES } from '../../lib/golden.ts';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const PREPARE_PROPS = { system_partition_size: '300M', winpe_partition_size: '0G', minimal_backup_partition_size: '40%', start_os_installation: 'opsi-local-image-ubuntu', multi_disk_mode: '0', backup_partition_on_same_disk: true };
const IMAGE = 'Golden One';
const ENTRY = 'golden_one';

let server: Promise<TestServer> | null = null;
test.after.always(async () => (await server)?.stop());
const ts = () => (server ??= startTestServer());

/** The golden entry's files as the depot holds them (filled by the first test). */
const golden: Record<string, Buffer> = {};
/** The sha256 manifest of PC A's files (the first test), to verify a restore of its image. */
let filledManifest: unknown = null;

test.serial('a backup with upload_to_server lands in the depot as golden/<name>; another PC fetches it with server_image, restores it and its files verify', async (t) => {
  const s = await ts();
  const pcA = { clientId: 'gold-a', mac: '52:54:00:00:a0:01' };
  const pcB = { clientId: 'gold-b', mac: '52:54:00:00:a0:02' };
  const [loopA, loopB] = [await createLoop(t, 1024 * MiB), await createLoop(t, 1024 * MiB)];
  // Both PCs prepared at once (two processes, two loops).
  const preps = await Promise.all([runProductOnLoop(s, pcA, 'opsi-local-image-prepare', loopA, PREPARE_PROPS), runProductOnLoop(s, pcB, 'opsi-local-image-prepare', loopB, PREPARE_PROPS)]);
  for (const [i, pc] of [pcA, pcB].entries()) {
    t.true(preps[i]!.ok, preps[i]!.error ?? preps[i]!.log.join('\n'));
    // start_os_installation made the system partition ext4 and queued the install: taken back (files stand in for the OS).
    await s.api('PUT', `/api/v1/clients/${pc.clientId}/products/opsi-local-image-ubuntu/action`, { actionRequest: 'none' });
  }
  const filled = await helper(['fill', `${loopA.path}p3`, 'ext4', '16']);
  filledManifest = filled.manifest;
  const manifest = join(loopA.dir, 'm.json');
  await writeFile(manifest, JSON.stringify(filled.manifest));

  const bk = await runProductOnLoop(s, pcA, 'opsi-local-image-backup', loopA, { imagefile: IMAGE, upload_to_server: true });
  t.true(bk.ok, bk.error ?? bk.log.join('\n'));
  const depot = s.server.osImages.depot;
  const entry = await depot.require('golden', ENTRY);
  // An ext4 image carries its inode table along, so PCs restored from it can later delta-restore reading only what changed.
  t.deepEqual(entry.manifest.files.map((f) => f.path).sort(), [...GOLDEN_FILES, 'inodes.ext4'].sort());
  t.like(entry.manifest.meta, { image: 'Golden_One', fsType: 'ext4', capturedFrom: pcA.clientId });
  t.true((await depot.verify('golden', ENTRY)).ok);
  for (const f of entry.manifest.files) golden[f.path] = await readFile(join(entry.dir, f.path));
  // The admin API lists it among the depot's entries.
  const listed = (await s.api('GET', '/api/v1/depot')).body as { id: string }[];
  t.true(listed.some((e) => e.id === `golden/${ENTRY}`));

  // PC B was only prepared: it has no image at all until the restore fetches one.
  const rs = await runProductOnLoop(s, pcB, 'opsi-local-image-restore', loopB, { server_image: ENTRY });
  t.true(rs.ok, rs.error ?? rs.log.join('\n'));
  t.true(rs.log.some((l) => /golden image golden_one is on the backup partition as Golden_One .* every file sha256-checked/.test(l)), rs.log.join('\n'));
  const v = await helper(['verify', `${loopB.path}p3`, 'ext4', manifest]);
  t.true(v.ok, JSON.stringify(v.bad));
  // Restored again from the image the server gave it: the table came along, so the delta trusts every unchanged inode.
  const again = await runProductOnLoop(s, pcB, 'opsi-local-image-restore', loopB, { imagefile: 'Golden_One' });
  t.true(again.ok, again.error ?? again.log.join('\n'));
  t.true(again.log.some((l) => /delta with inode records: (\d+) of \1 inodes unchanged/.test(l)), again.log.join('\n'));
  t.true((await helper(['verify', `${loopB.path}p3`, 'ext4', manifest])).ok);
  const props = (await s.api('GET', `/api/v1/clients/${pcB.clientId}/products/opsi-local-image-restore/properties`)).body as Record<string, unknown>;
  t.like(props, { imagefile: 'Golden_One', imagefiles_list: ['Golden_One'] });
  // Another PC's backup job may not read it; a restore job reads only its own server_image.
  // (action set refuses a server_image the depot does not hold, so 'another' must exist)
  await depot.create('golden', 'another', { image: 'another' }, async (dir) => writeFile(join(dir, 'metadata.json'), '{}'));
  const other = await issueJob(s, { clientId: 'gold-c', mac: '52:54:00:00:a0:03', productId: 'opsi-local-image-restore', properties: { server_image: 'another' } });
  t.is((await fetch(`${s.url}/depot/v1/golden/${ENTRY}/manifest.json`, { headers: { authorization: `Bearer ${other.token}` } })).status, 403);
});

/** Send the first `cut` bytes of a chunk announced as all of `data`, then drop the connection. */
function putAndDrop(url: string, token: string, id: string, data: Buffer, cut: number): Promise<void> {
  return new Promise((resolve) => {
    const u = new URL(`${url}/agent/v1/uploads/${id}`);
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'content-length': String(data.length), 'content-range': `bytes 0-${data.length - 1}/${data.length}` } });
    req.on('error', () => resolve());
    req.write(data.subarray(0, cut), () => setImmediate(() => (req.destroy(), resolve())));
  });
}

test.serial('a golden upload cut mid-file resumes; it is never listed before its last file; a corrupted file and foreign metadata are refused', async (t) => {
  const s = await ts();
  t.truthy(golden['image.pcl.zst'], 'needs the first test');
  const depot = s.server.osImages.depot;
  const job = await issueJob(s, { clientId: 'gold-d', mac: '52:54:00:00:a0:04', productId: 'opsi-local-image-backup', properties: { imagefile: 'Second', upload_to_server: true } });
  const call = (method: string, path: string, body?: unknown) => agentCall(s.url, job.token, method, path, body);
  const put = (id: string, data: Buffer, start: number, total: number) =>
    fetch(`${s.url}/agent/v1/uploads/${id}`, { method: 'PUT', headers: { authorization: `Bearer ${job.token}`, 'content-type': 'application/octet-stream', 'content-range': `bytes ${start}-${start + data.length - 1}/${total}` }, body: new Uint8Array(data) });
  const send = async (path: string, data: Buffer) => {
    const st = await call('POST', '/uploads', { size: data.length, sha256: sha(data), path });
    t.is(st.status, 201, JSON.stringify(st.body));
    t.is((await put(st.body.id, data, 0, data.length)).status, 200);
    return call('POST', `/uploads/${st.body.id}/commit`);
  };
  // Only the files of a golden image.
  t.is((await call('POST', '/uploads', { size: 1, sha256: 'a'.repeat(64), path: 'other.bin' })).status, 400);

  // The image cut after 200 kB: what arrived counts, the same start resumes it.
  const img = golden['image.pcl.zst']!;
  const st = await call('POST', '/uploads', { size: img.length, sha256: sha(img), path: 'image.pcl.zst' });
  t.is(st.body.target, 'golden/second/image.pcl.zst');
  await putAndDrop(s.url, job.token, st.body.id, img, 200_000);
  let offset = 0;
  for (const deadline = Date.now() + 10_000; Date.now() < deadline && offset === 0; ) offset = (await call('GET', `/uploads/${st.body.id}`)).body.offset ?? 0; // 409 (no offset) while the cut chunk still lands
  t.true(offset > 0 && offset <= 200_000, `offset ${offset}`);
  const again = await call('POST', '/uploads', { size: img.length, sha256: sha(img), path: 'image.pcl.zst' });
  t.is(again.body.offset, offset);
  t.is((await put(st.body.id, img.subarray(offset), offset, img.length)).status, 200);
  const c1 = await call('POST', `/uploads/${st.body.id}/commit`);
  t.is(c1.status, 200, JSON.stringify(c1.body));
  t.deepEqual(c1.body.pending, ['chunks.json', 'metadata.json']);
  t.is(await depot.get('golden', 'second'), null, 'not listed with one of three files');

  // chunks.json corrupted on the way: refused, the image part stays, still nothing listed.
  const chunks = golden['chunks.json']!;
  const bad = Buffer.from(chunks);
  bad[10] = bad[10]! ^ 0x20;
  const stBad = await call('POST', '/uploads', { size: chunks.length, sha256: sha(chunks), path: 'chunks.json' });
  t.is((await put(stBad.body.id, bad, 0, bad.length)).status, 200);
  const refused = await call('POST', `/uploads/${stBad.body.id}/commit`);
  t.is(refused.status, 400);
  t.regex(refused.body.message, /nothing was stored/);
  t.deepEqual((await send('chunks.json', chunks)).body.pending, ['metadata.json']);
  t.is(await depot.get('golden', 'second'), null, 'not listed with two of three files');

  // metadata.json naming other bytes: the whole group is refused.
  const meta = JSON.parse(golden['metadata.json']!.toString()) as { sha256: string; name: string };
  const foreign = Buffer.from(JSON.stringify({ ...meta, sha256: 'b'.repeat(64) }));
  const r = await send('metadata.json', foreign);
  t.is(r.status, 400);
  t.regex(r.body.message, /metadata.json names another image.pcl.zst/);
  t.is(await depot.get('golden', 'second'), null);
  t.deepEqual(await readdir(join(depot.dir, '.uploads')), [], 'a refused group leaves nothing behind');

  // The inode table: metadata.json naming one that did not come is refused; so is one it does not name.
  const table = golden['inodes.ext4']!;
  t.truthy(table, 'the first test uploaded an inode table');
  for (const f of ['image.pcl.zst', 'chunks.json'] as const) t.is((await send(f, golden[f]!)).status, 200);
  const noTable = await send('metadata.json', golden['metadata.json']!);
  t.is(noTable.status, 400);
  t.regex(noTable.body.message, /names a inodes.ext4 that was not uploaded/);
  for (const f of ['image.pcl.zst', 'chunks.json', 'inodes.ext4'] as const) t.is((await send(f, golden[f]!)).status, 200);
  const { inodeTable: _, ...chunkedWithout } = (meta as unknown as { chunked: Record<string, unknown> }).chunked;
  const unnamed = await send('metadata.json', Buffer.from(JSON.stringify({ ...meta, chunked: chunkedWithout })));
  t.is(unnamed.status, 400);
  t.regex(unnamed.body.message, /inodes.ext4 was uploaded but metadata.json does not name it/);
  // All four as the agent sends them: listed.
  for (const f of ['image.pcl.zst', 'chunks.json', 'inodes.ext4'] as const) t.is((await send(f, golden[f]!)).status, 200);
  const ok = await send('metadata.json', golden['metadata.json']!);
  t.is(ok.status, 200, JSON.stringify(ok.body));
  t.deepEqual((await depot.require('golden', 'second')).manifest.files.map((f) => f.path).sort(), ['chunks.json', 'image.pcl.zst', 'inodes.ext4', 'metadata.json']);
  await depot.remove('golden', 'second');
});

test.serial('a golden fetch cut mid-file resumes with Range; a file damaged on the way is refused and nothing is listed', async (t) => {
  const s = await ts();
  t.truthy(golden['image.pcl.zst'], 'needs the first test');
  const job = await issueJob(s, { clientId: 'gold-e', mac: '52:54:00:00:a0:05', productId: 'opsi-local-image-restore', properties: { server_image: ENTRY } });
  const root = await mkdtemp(join(tmpdir(), 'ni-golden-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const real = (path: string, headers: Record<string, string>) => fetch(`${s.url}${path}`, { headers: { ...headers, authorization: `Bearer ${job.token}` } });
  /** The server's answer, its body cut after `cut` bytes (a dropped connection) or with one byte flipped. */
  const tamper = (res: Response, how: { cut?: number; flip?: number }) => {
    let seen = 0;
    let cut = false;
    const body = res.body!.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, ctl) {
          // The bytes before the cut arrive (a later error would discard them if queued together).
          if (cut) return ctl.error(new Error('connection reset (test)'));
          if (how.cut !== undefined && seen + chunk.length >= how.cut) {
            ctl.enqueue(chunk.subarray(0, how.cut - seen));
            cut = true;
            return;
          }
          if (how.flip !== undefined && how.flip >= seen && how.flip < seen + chunk.length) {
            chunk = Uint8Array.from(chunk);
            chunk[how.flip - seen] = chunk[how.flip - seen]! ^ 0xff;
          }
          seen += chunk.length;
          ctl.enqueue(chunk);
        },
        flush(ctl) {
          if (cut) ctl.error(new Error('connection reset (test)'));
        },
      }),
    );
    return new Response(body, { status: res.status, headers: res.headers });
  };

  // A damaged byte in the image: refused, not listed, images.json untouched.
  const logs: string[] = [];
  const flipped = (path: string, headers: Record<string, string>) => real(path, headers).then((res) => (path.endsWith('image.pcl.zst') ? tamper(res, { flip: 5000 }) : res));
  const e = await t.throwsAsync(fetchGoldenImage({ fetchFile: flipped, root, name: ENTRY, log: (l) => logs.push(l), retryMs: 10 }));
  t.regex(e!.message, /image.pcl.zst arrived damaged .* nothing was listed/);
  t.deepEqual((await readdir(root)).filter((n) => !n.startsWith('.')), [], 'no image, no images.json');

  // Cut twice mid-image: resumed with Range each time, then complete and listed.
  let cuts = 0;
  const ranges: string[] = [];
  const cutting = async (path: string, headers: Record<string, string>) => {
    const res = await real(path, headers);
    if (path.endsWith('image.pcl.zst')) ranges.push(headers['range'] ?? 'whole');
    return path.endsWith('image.pcl.zst') && cuts++ < 2 ? tamper(res, { cut: 100_000 }) : res;
  };
  const r = await fetchGoldenImage({ fetchFile: cutting, root, name: ENTRY, log: (l) => logs.push(l), retryMs: 10 });
  t.is(r.resumes, 2);
  t.is(ranges.length, 3);
  t.is(ranges[0], 'whole');
  t.true(ranges.slice(1).every((h) => /^bytes=[1-9]\d*-$/.test(h)), ranges.join(' '));
  t.true((await readFile(join(root, 'Golden_One', 'image.pcl.zst'))).equals(golden['image.pcl.zst']!));
  const index = JSON.parse(await readFile(join(root, 'images.json'), 'utf8')) as { images: { name: string }[] };
  t.deepEqual(index.images.map((i) => i.name), ['Golden_One']);
  t.false((await readdir(root)).some((n) => n.startsWith('.fetch-')), 'the fetch folder became the image');
  // Fetched again: already here, nothing moves.
  t.is((await fetchGoldenImage({ fetchFile: cutting, root, name: ENTRY, log: (l) => logs.push(l) })).fetchedBytes, 0);
});

test.serial('a golden fetch whose resume is answered with another range (206) or the whole file (200) starts that file over and verifies', async (t) => {
  const s = await ts();
  t.truthy(golden['image.pcl.zst'], 'needs the first test');
  const job = await issueJob(s, { clientId: 'gold-r', mac: '52:54:00:00:a0:07', productId: 'opsi-local-image-restore', properties: { server_image: ENTRY } });
  const real = (path: string, headers: Record<string, string>) => fetch(`${s.url}${path}`, { headers: { ...headers, authorization: `Bearer ${job.token}` } });
  for (const answer of ['other range', 'whole file'] as const) {
    const root = await mkdtemp(join(tmpdir(), 'ni-golden-'));
    t.teardown(() => rm(root, { recursive: true, force: true }));
    const seen: string[] = [];
    let n = 0;
    // The image's first transfer is cut at 100 000 bytes; the server is then asked, for the
    // resume, another range than the PC asked for (a real 206 from 1000 bytes earlier), or no
    // range at all (a real 200): what a confused proxy or server would send back.
    const confused = async (path: string, headers: Record<string, string>) => {
      if (!path.endsWith('image.pcl.zst')) return real(path, headers);
      n++;
      let res: Response;
      if (n === 2 && headers['range']) {
        const at = Number(/^bytes=(\d+)-$/.exec(headers['range'])![1]);
        res = answer === 'whole file' ? await real(path, {}) : await real(path, { range: `bytes=${at - 1000}-` });
      } else res = await real(path, headers);
      seen.push(`${headers['range'] ?? 'whole'} ${res.status}`);
      if (n > 1) return res;
      const reader = res.body!.getReader();
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(ctl) {
          const { done, value } = await reader.read();
          if (done || sent >= 100_000) {
            await reader.cancel();
            return ctl.error(new Error('connection reset (test)'));
          }
          const part = value.subarray(0, 100_000 - sent);
          sent += part.length;
          ctl.enqueue(part);
        },
      });
      return new Response(body, { status: res.status, headers: res.headers });
    };
    const logs: string[] = [];
    await fetchGoldenImage({ fetchFile: confused, root, name: ENTRY, log: (l) => logs.push(l), retryMs: 10 });
    t.true((await readFile(join(root, 'Golden_One', 'image.pcl.zst'))).equals(golden['image.pcl.zst']!), answer);
    t.regex(seen[1] ?? '', answer === 'whole file' ? /^bytes=[1-9]\d*- 200$/ : /^bytes=[1-9]\d*- 206$/, seen.join(', '));
    if (answer === 'other range') {
      t.deepEqual(seen.slice(2), ['whole 200'], 'after the wrong 206, the file again from byte 0');
      t.regex(logs.join('\n'), /HTTP 206 for bytes \d+-\d+, not from byte \d+ as asked for image\.pcl\.zst/);
    } else t.is(seen.length, 2, 'the 200 itself was used');
  }
});

test.serial('room seeding through the restore product: set for a group with server_image_multicast, a prepared PC receives the golden image from the room\'s stream, restores it and its files verify', async (t) => {
  const s = await ts();
  t.truthy(filledManifest, 'needs the first test');
  const pc = { clientId: 'gold-f', mac: '52:54:00:00:a0:06' };
  await s.api('POST', '/api/v1/groups', { id: 'goldroom' });
  t.is((await s.api('POST', '/api/v1/clients', { id: pc.clientId, mac: pc.mac, group: 'goldroom' })).status, 201);
  const loop = await createLoop(t, 1024 * MiB);
  const prep = await runProductOnLoop(s, pc, 'opsi-local-image-prepare', loop, PREPARE_PROPS);
  t.true(prep.ok, prep.error ?? prep.log.join('\n'));
  await s.api('PUT', `/api/v1/clients/${pc.clientId}/products/opsi-local-image-ubuntu/action`, { actionRequest: 'none' });
  const props = { server_image: ENTRY, server_image_multicast: true };
  const set = await s.api('POST', '/api/v1/groups/goldroom/action', { productId: 'opsi-local-image-restore', actionRequest: 'setup', properties: props, confirm: 1 });
  t.is(set.status, 200, set.text);
  t.like(s.server.osImages.seeding.list().find((x) => x.groupId === 'goldroom'), { entry: ENTRY, state: 'waiting' });

  // The room is this one PC: its ask completes the room, the stream starts 0.5 s later (over lo here).
  const rs = await runProductOnLoop(s, pc, 'opsi-local-image-restore', loop, props);
  t.true(rs.ok, rs.error ?? rs.log.join('\n'));
  t.true(rs.log.some((l) => /room seeding of golden_one: joining multicast 239\.255\.42\.\d+:9042 on 127\.0\.0\.1/.test(l)), rs.log.join('\n'));
  t.true(rs.log.some((l) => /room seeding of golden_one: \d+ pieces verified \(0 already here, [1-9]\d* by multicast/.test(l)), rs.log.join('\n'));
  t.true(rs.log.some((l) => /golden image golden_one is on the backup partition as Golden_One .* every file sha256-checked/.test(l)), rs.log.join('\n'));
  const manifest = join(loop.dir, 'm.json');
  await writeFile(manifest, JSON.stringify(filledManifest));
  const v = await helper(['verify', `${loop.path}p3`, 'ext4', manifest]);
  t.true(v.ok, JSON.stringify(v.bad));
  t.like((await s.api('GET', `/api/v1/clients/${pc.clientId}/products/opsi-local-image-restore/properties`)).body, { imagefile: 'Golden_One', imagefiles_list: ['Golden_One'] });
});

test.serial('the admin API behind `netimage depot ls|verify|rm` lists, verifies (finding a damaged byte) and removes a golden image', async (t) => {
  const s = await ts();
  t.truthy(golden['image.pcl.zst'], 'needs the first test');
  const one = (await s.api('GET', `/api/v1/depot/golden/${ENTRY}`)).body as { meta: { image: string; fsType: string } };
  t.like(one.meta, { image: 'Golden_One', fsType: 'ext4' });
  t.like((await s.api('POST', `/api/v1/depot/golden/${ENTRY}/verify`)).body, { ok: true, problems: [] });
  const entry = await s.server.osImages.depot.require('golden', ENTRY);
  const damaged = Buffer.from(golden['image.pcl.zst']!);
  damaged[damaged.length - 100] = damaged[damaged.length - 100]! ^ 1;
  await writeFile(join(entry.dir, 'image.pcl.zst'), damaged);
  const v = (await s.api('POST', `/api/v1/depot/golden/${ENTRY}/verify`)).body as { ok: boolean; problems: string[] };
  t.false(v.ok);
  t.regex(v.problems.join('\n'), /image\.pcl\.zst: sha256 [0-9a-f]{64}, manifest says/);
  // Restores of it that earlier tests left under way keep it (removing it would fail them half
  // way, depot/in-use.ts): they are cleared first, as an admin would.
  for (const c of (await s.api('GET', '/api/v1/clients')).body as { id: string }[]) {
    await s.api('PUT', `/api/v1/clients/${c.id}/products/opsi-local-image-restore/action`, { actionRequest: 'none' });
  }
  const rm = await s.api('DELETE', `/api/v1/depot/golden/${ENTRY}`);
  t.is(rm.status, 204, rm.text);
  t.is((await s.api('GET', `/api/v1/depot/golden/${ENTRY}`)).status, 404);
});

