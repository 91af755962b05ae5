// Room seeding onto backup partitions (issue 14 item 3): 11 receiving PCs in network namespaces,
// each a process of the restore job's receiving code (imaging/golden.ts fetchGoldenImage with the
// room's session, via `imaging/seed/cli.ts receive-golden`) writing into an ext4 backup partition
// on a LOOP DEVICE of its own; one stream from the server namespace (the sender CLI) and the
// depot's files over HTTP Range (range-files-server, laid out like /depot/v1 and /agent/v1/seed).
// Seven plain PCs; one killed mid-stream and started again; one that joins at ~30 %; one that
// takes a forged (corrupted) datagram of piece 0; one whose firewall drops multicast. Every PC
// must end with the image listed in images.json and its three files identical to the server's.
import test from 'ava';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildManifest } from '../../lib/seed/manifest.ts';
import { run, runAllowFailure } from '../../lib/process.ts';
import { writeGoldenFiles } from '../helpers/golden-files.ts';
import { createSeedLab, type NodeProcess, type SeedLab } from '../helpers/seed-lab.ts';

const CLI = 'imaging/seed/cli.ts';
const N = 11;
const PLAIN = [0, 1, 2, 3, 4, 5, 6];
const KILLED = 7;
const LATE = 8;
const CORRUPT = 9;
const BLOCKED = 10;
const ENTRY = 'room';
const FILES = ['image.pcl.zst', 'chunks.json', 'metadata.json'] as const;
const IMAGE_BYTES = 40 * 1024 * 1024 + 4321;
const GROUP = '239.255.42.7';
const PORT = '9042';
const FORGE_PORT = '40999';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Run {
  results: Record<string, unknown>[];
  events: Record<string, unknown>[][];
  firstKilled: Record<string, unknown>[];
  pieceCount: number;
  roots: string[];
  src: string;
}
let result: Run | undefined;
let runError: unknown;
let lab: SeedLab | undefined;
let dir: string | undefined;
const loops: string[] = [];
const mounts: string[] = [];

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ni-seed-room-'));
  try {
    // The depot as the PCs see it: /depot/v1/golden/room/{files, manifest.json} and /agent/v1/seed.
    const src = join(dir, 'srv');
    const entryDir = join(src, 'depot/v1/golden', ENTRY);
    const files = await writeGoldenFiles(entryDir, ENTRY, IMAGE_BYTES);
    const bytes = { 'image.pcl.zst': files.image, 'chunks.json': files.chunks, 'metadata.json': files.metadata };
    await writeFile(join(entryDir, 'manifest.json'), JSON.stringify({ kind: 'golden', name: ENTRY, files: FILES.map((path) => ({ path, size: bytes[path].length, sha256: sha(bytes[path]) })) }));
    const manifest = await buildManifest(entryDir, FILES, 1024 * 1024);
    await writeFile(join(dir, 'seed-manifest.json'), JSON.stringify(manifest));
    await mkdir(join(src, 'agent/v1'), { recursive: true });
    await writeFile(join(src, 'agent/v1/seed'), JSON.stringify({ state: 'waiting', entry: ENTRY, group: GROUP, port: Number(PORT), manifest, base: `/depot/v1/golden/${ENTRY}`, localAddress: '0.0.0.0' }));

    // One backup partition per PC: ext4 on a loop device over a file of ours, mounted (the
    // namespaces' processes see the mount).
    const roots: string[] = [];
    for (let i = 0; i < N; i++) {
      const file = join(dir, `pc${i}.img`);
      await writeFile(file, '');
      await truncate(file, 96 * 1024 * 1024);
      const loop = (await run('losetup', ['-f', '--show', file])).stdout.trim();
      loops.push(loop);
      await run('mkfs.ext4', ['-q', '-F', '-L', `seed${i}`, loop]);
      const root = join(dir, `pc${i}`);
      await mkdir(root);
      await run('mount', [loop, root]);
      mounts.push(root);
      roots.push(root);
    }

    lab = createSeedLab(N, 3);
    const l = lab;
    const base = `http://${l.serverIp}:8080`;
    const http = l.node(l.serverNs, 'test/helpers/range-files-server.ts', [src, l.serverIp, '8080']);
    await http.until((e) => e.event === 'listening');
    l.exec(l.pcs[BLOCKED]!.ns, 'iptables', '-A', 'INPUT', '-d', '224.0.0.0/4', '-j', 'DROP');
    // The forged datagram reaches only the CORRUPT PC.
    for (let i = 0; i < N; i++) if (i !== CORRUPT) l.exec(l.pcs[i]!.ns, 'iptables', '-A', 'INPUT', '-p', 'udp', '--sport', FORGE_PORT, '-j', 'DROP');

    const receive = (i: number, ...extra: string[]) =>
      l.node(l.pcs[i]!.ns, CLI, ['receive-golden', '--server', base, '--entry', ENTRY, '--root', roots[i]!, '--local', l.pcs[i]!.ip, '--join-timeout-ms', '2000', '--idle-timeout-ms', '4000', ...extra]);
    // ~40 MiB at 60 Mbit/s: a ~6 s stream, long enough to kill one PC and let one join late.
    const sender = l.node(l.serverNs, CLI, ['send', '--dir', entryDir, '--manifest', join(dir, 'seed-manifest.json'), '--group', GROUP, '--port', PORT, '--local', l.serverIp, '--rate-mbit', '60', '--wait-for-go']);
    await sender.until((e) => e.event === 'waiting');
    const pcs: NodeProcess[] = [];
    for (let i = 0; i < N; i++) pcs[i] = receive(i, ...(i === LATE ? ['--wait-for-go'] : []));
    for (let i = 0; i < N; i++) {
      if (i === LATE) continue;
      if (i === BLOCKED) await pcs[i]!.until((e) => e.event === 'multicast-blocked', 90_000);
      else await pcs[i]!.until((e) => e.event === 'joined', 90_000);
    }
    // The late PC's process is up (its session read), it joins only when told.
    await pcs[LATE]!.until((e) => e.event === 'waiting', 90_000);
    const forge = l.node(l.serverNs, 'test/helpers/seed-forge.ts', [join(dir, 'seed-manifest.json'), GROUP, PORT, l.serverIp, FORGE_PORT]);
    await forge.until((e) => e.event === 'forged', 30_000);
    sender.child.stdin!.write('go\n');
    await sender.until((e) => e.event === 'sending' && Number(e.percent) >= 25, 120_000);
    const first = pcs[KILLED]!;
    first.child.kill('SIGKILL');
    await first.exited;
    const firstKilled = [...first.events];
    await sender.until((e) => e.event === 'sending' && Number(e.percent) >= 30, 120_000);
    pcs[LATE]!.child.stdin!.write('go\n');
    pcs[KILLED] = receive(KILLED);
    await sender.until((e) => e.event === 'sent', 180_000);
    const results: Record<string, unknown>[] = [];
    const events: Record<string, unknown>[][] = [];
    for (const [i, pc] of pcs.entries()) {
      results[i] = await pc.until((e) => e.event === 'received' || e.event === 'error', 180_000);
      events[i] = pc.events;
    }
    result = { results, events, firstKilled, pieceCount: manifest.files.reduce((s, f) => s + f.pieces.length, 0), roots, src: entryDir };
  } catch (error) {
    runError = error;
  }
});

test.after.always(async () => {
  lab?.destroy();
  for (const m of mounts) {
    for (let i = 0; i < 20; i++) {
      if ((await runAllowFailure('umount', [m])).exitCode === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  for (const loop of loops) {
    for (let i = 0; i < 20; i++) {
      if ((await runAllowFailure('losetup', ['-d', loop])).exitCode === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

const theRun = (): Run => {
  if (!result) throw runError ?? new Error('the seeding run did not happen');
  return result;
};
const logOf = (r: Run, i: number) => r.events[i]!.filter((e) => e.event === 'log').map((e) => String(e.line));

test('11 PCs: every loop device ends with the image in images.json, its three files identical to the server\'s', async (t) => {
  const r = theRun();
  const want = await Promise.all(FILES.map((f) => readFile(join(r.src, f))));
  for (let i = 0; i < N; i++) {
    t.is(r.results[i]!.event, 'received', `pc${i}: ${JSON.stringify(r.results[i])} ${logOf(r, i).slice(-3).join(' | ')}`);
    t.is(Number(r.results[i]!.pieces), r.pieceCount);
    const index = JSON.parse(await readFile(join(r.roots[i]!, 'images.json'), 'utf8')) as { images: { name: string }[] };
    t.deepEqual(index.images.map((m) => m.name), [ENTRY], `pc${i} images.json`);
    for (const [k, f] of FILES.entries()) t.true((await readFile(join(r.roots[i]!, ENTRY, f))).equals(want[k]!), `pc${i} ${f}`);
    t.true(logOf(r, i).some((l) => /every file sha256-checked/.test(l)), `pc${i} checked before listing`);
  }
  for (const i of PLAIN) {
    // 2 shared cores for 11 receivers and the sender: a starved receiver drops datagrams, which HTTP repairs.
    t.true(Number(r.results[i]!.bytesMulticast) > Number(r.results[i]!.bytes) * 0.5, `pc${i} mostly by multicast: ${JSON.stringify(r.results[i])}`);
    t.is(r.results[i]!.multicastBlocked, null);
  }
});

test('a PC killed mid-stream and started again keeps its verified pieces and finishes from the stream and HTTP', (t) => {
  const r = theRun();
  t.true(r.firstKilled.some((e) => e.event === 'progress'), 'it had received pieces before the kill');
  const again = r.results[KILLED]!;
  t.true(Number(again.present) > 0, `kept what it had: ${JSON.stringify(again)}`);
  t.true(Number(again.present) < r.pieceCount, JSON.stringify(again));
  t.true(logOf(r, KILLED).some((l) => /verified pieces already here from an earlier attempt/.test(l)), logOf(r, KILLED).join('\n'));
});

test('a PC that joins at ~30 % catches the start up over HTTP and takes the rest from the stream', (t) => {
  const r = theRun();
  const late = r.results[LATE]!;
  t.true(Number(late.viaHttp) >= r.pieceCount * 0.2, JSON.stringify(late));
  t.true(Number(late.viaMulticast) > 0, JSON.stringify(late));
});

test('a corrupted datagram is caught by the piece\'s sha256 and the piece fetched again over HTTP', (t) => {
  const r = theRun();
  t.true(r.events[CORRUPT]!.some((e) => e.event === 'damaged-piece' && e.piece === 0 && e.via === 'multicast'), JSON.stringify(r.events[CORRUPT]!.filter((e) => e.event !== 'progress')));
  t.true(logOf(r, CORRUPT).some((l) => /piece 0 arrived damaged by multicast \(sha256 mismatch\): fetched again over HTTP/.test(l)));
  // Only that PC saw the forged datagram.
  for (let i = 0; i < N; i++) if (i !== CORRUPT) t.false(r.events[i]!.some((e) => e.event === 'damaged-piece' && e.via === 'multicast' && e.piece === 0), `pc${i}`);
});

test('multicast dropped by a PC\'s firewall: the job log says so and everything comes over HTTP', (t) => {
  const r = theRun();
  const b = r.results[BLOCKED]!;
  t.true(logOf(r, BLOCKED).some((l) => /MULTICAST BLOCKED: no multicast from 239\.255\.42\.7:9042 within 2\.0 s .*falling back to unicast HTTP Range/.test(l)), logOf(r, BLOCKED).join('\n'));
  t.is(Number(b.viaMulticast), 0);
  t.is(Number(b.viaHttp), r.pieceCount);
});
