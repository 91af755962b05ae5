// Room seeding (imaging/seed/): one multicast stream to a room of receivers in network namespaces,
// real processes of the receiving code on a real bridge. One run for the file (one stream, 7 PCs):
// three plain PCs, one that loses 5 % of the stream's datagrams, one that joins when 20 % is sent, one whose
// firewall drops multicast, one killed mid-stream whose target then gets a damaged piece before it
// is started again. Every PC must end with files identical to the server's, each piece verified.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildManifest, parseManifest, piecesOf, sessionOf } from '../../lib/seed/manifest.ts';
import { decodePacket, encodePacket, FRAGMENT_BYTES, missingRanges, PacketType } from '../../lib/seed/wire.ts';
import { createSeedLab, type NodeProcess, type SeedLab } from '../helpers/seed-lab.ts';

const CLI = 'imaging/seed/cli.ts';
const PLAIN = [0, 1, 2];
const LOSSY = 3;
const LATE = 4;
const BLOCKED = 5;
const RESTARTED = 6;
const FILES = { 'disk.img': 9 * 1024 * 1024 + 12345, 'chunks.json': 300_000 };

interface Run {
  dir: string;
  lab: SeedLab;
  /** The last JSON line of every receiver ('received' or 'error') and everything it printed. */
  results: Record<string, unknown>[];
  events: Record<string, unknown>[][];
  /** Pieces of the restarted PC's target that were damaged before its restart. */
  damagedPiece: number;
  pieceCount: number;
}
let run: Run | undefined;
let runError: unknown;
let theLab: SeedLab | undefined;
let theDir: string | undefined;

test.before(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ni-seed-'));
  theDir = dir;
  const lab = createSeedLab(7, 1);
  theLab = lab;
  try {
    const src = join(dir, 'src');
    await mkdir(src);
    for (const [name, size] of Object.entries(FILES)) await writeFile(join(src, name), randomBytes(size));
    const manifest = await buildManifest(src, Object.keys(FILES), 256 * 1024);
    await writeFile(join(src, 'seed.json'), JSON.stringify(manifest));
    const base = `http://${lab.serverIp}:8080`;
    const http = lab.node(lab.serverNs, 'test/helpers/range-files-server.ts', [src, lab.serverIp, '8080']);
    await http.until((e) => e.event === 'listening');

    // 5 % of the stream's datagrams lost at the PC (random drops by the kernel; this kernel has no netem).
    lab.exec(lab.pcs[LOSSY]!.ns, 'iptables', '-A', 'INPUT', '-d', '224.0.0.0/4', '-m', 'statistic', '--mode', 'random', '--probability', '0.05', '-j', 'DROP');
    lab.exec(lab.pcs[BLOCKED]!.ns, 'iptables', '-A', 'INPUT', '-d', '224.0.0.0/4', '-j', 'DROP');
    const receive = (i: number, ...extra: string[]) =>
      lab.node(lab.pcs[i]!.ns, CLI, ['receive', '--manifest-url', `${base}/seed.json`, '--base-url', base, '--out', join(dir, `pc${i}`), '--local', lab.pcs[i]!.ip, '--join-timeout-ms', '1500', '--idle-timeout-ms', '3000', ...extra]);
    // ~9.6 MiB at 24 Mbit/s is a 3.4 s stream: long enough to kill one PC mid-stream and to let one join late.
    const sender = lab.node(lab.serverNs, CLI, ['send', '--dir', src, '--manifest', join(src, 'seed.json'), '--local', lab.serverIp, '--rate-mbit', '24', '--wait-for-go']);
    await sender.until((e) => e.event === 'waiting');
    const pcs: (NodeProcess | undefined)[] = [];
    for (const i of [...PLAIN, LOSSY, BLOCKED, RESTARTED]) pcs[i] = receive(i);
    // The late PC is started now but joins only when told (a Node start takes seconds on a loaded machine).
    pcs[LATE] = receive(LATE, '--wait-for-go');
    for (const i of [...PLAIN, LOSSY, RESTARTED]) await pcs[i]!.until((e) => e.event === 'joined');
    await pcs[LATE]!.until((e) => e.event === 'waiting');
    sender.child.stdin!.write('go\n');
    await sender.until((e) => e.event === 'sending' && Number(e.percent) >= 10);
    const first = pcs[RESTARTED]!;
    first.child.kill('SIGKILL');
    await first.exited;
    await sender.until((e) => e.event === 'sending' && Number(e.percent) >= 20);
    pcs[LATE]!.child.stdin!.write('go\n');
    // A piece the killed PC had written, damaged on its disk: the restart must find and fetch it again.
    const damagedPiece = 2;
    const piece = piecesOf(manifest)[damagedPiece]!;
    const h = await open(join(dir, `pc${RESTARTED}`, piece.name), 'r+');
    await h.write(Buffer.from('damage'), 0, 6, piece.offset + 1000);
    await h.close();
    pcs[RESTARTED] = receive(RESTARTED);
    await sender.until((e) => e.event === 'sent');
    const results: Record<string, unknown>[] = [];
    const events: Record<string, unknown>[][] = [];
    for (const [i, pc] of pcs.entries()) {
      results[i] = await pc!.until((e) => e.event === 'received' || e.event === 'error', 30_000);
      events[i] = pc!.events;
    }
    run = { dir, lab, results, events, damagedPiece, pieceCount: piecesOf(manifest).length };
  } catch (error) {
    runError = error;
    theLab?.destroy();
  }
});
test.after.always(async () => {
  theLab?.destroy();
  if (theDir) await rm(theDir, { recursive: true, force: true });
});
const theRun = (): Run => {
  if (!run) throw runError ?? new Error('the seeding run did not happen');
  return run;
};
const filesOf = async (dir: string) => Promise.all(Object.keys(FILES).map((n) => readFile(join(dir, n))));

test('every PC ends with files identical to the server\'s, every piece verified; the plain PCs got most of it from the one stream', async (t) => {
  const r = theRun();
  const want = await filesOf(join(r.dir, 'src'));
  for (let i = 0; i < 7; i++) {
    t.is(r.results[i]!.event, 'received', `pc${i}: ${JSON.stringify(r.results[i])}`);
    t.is(Number(r.results[i]!.pieces), r.pieceCount);
    const got = await filesOf(join(r.dir, `pc${i}`));
    got.forEach((g, k) => t.true(g.equals(want[k]!), `pc${i} ${Object.keys(FILES)[k]} identical`));
  }
  for (const i of PLAIN) {
    // Two shared cores for seven PCs and the sender: a starved receiver drops datagrams, which HTTP repairs.
    t.true(Number(r.results[i]!.bytesMulticast) > Number(r.results[i]!.bytes) * 0.5, `pc${i} mostly multicast: ${JSON.stringify(r.results[i])}`);
    t.is(r.results[i]!.multicastBlocked, null);
  }
});

test('a PC with 5 % loss fetches only what it lost over HTTP; a PC started late catches up the start over HTTP', (t) => {
  const r = theRun();
  const lossy = r.results[LOSSY]!;
  // It followed the stream to its end: the END packet, or (null) every piece in hand before END
  // came (its last piece by multicast, the lost ones fetched meanwhile); never a stall or a block.
  t.true(lossy.streamEnd === 'end' || lossy.streamEnd === null, `it followed the stream to its end: ${JSON.stringify(lossy)}`);
  t.true(Number(lossy.viaHttp) > 0, JSON.stringify(lossy));
  t.true(Number(lossy.bytesHttp) < Number(lossy.bytes) * 0.3, `lost fragments only, not whole pieces: ${JSON.stringify(lossy)}`);
  const late = r.results[LATE]!;
  t.true(Number(late.viaHttp) >= r.pieceCount * 0.1, JSON.stringify(late));
  t.true(Number(late.viaMulticast) > 0, `it still took the rest of the stream: ${JSON.stringify(late)}`);
});

test('multicast dropped by a PC\'s firewall: it says so and fetches everything over HTTP', (t) => {
  const r = theRun();
  const blocked = r.results[BLOCKED]!;
  t.regex(String(blocked.multicastBlocked), /no multicast from 239\.255\.42\.1:9042 within 1\.5 s .*fetching all \d+ pieces over HTTP/);
  t.true(r.events[BLOCKED]!.some((e) => e.event === 'multicast-blocked'), 'announced as an event, not only in the result');
  t.is(Number(blocked.viaMulticast), 0);
  t.is(Number(blocked.viaHttp), r.pieceCount);
});

test('a PC killed mid-stream and started again keeps its verified pieces, finds the damaged one and fetches it again', (t) => {
  const r = theRun();
  const again = r.results[RESTARTED]!;
  t.true(Number(again.present) > 0, `kept what it had: ${JSON.stringify(again)}`);
  t.true(Number(again.present) < r.pieceCount, JSON.stringify(again));
  // piece 2 was damaged: not counted as present, so fetched again (it went past long ago)
  t.true(Number(again.viaHttp) >= 1, JSON.stringify(again));
});

// Pure parts.
test('wire: packets round-trip; garbage, foreign versions and fragments past their piece are refused', (t) => {
  const data = randomBytes(FRAGMENT_BYTES);
  const p = decodePacket(encodePacket({ type: PacketType.Data, session: 7, piece: 3, offset: FRAGMENT_BYTES, pieceLength: 3 * FRAGMENT_BYTES, pieces: 9 }, data));
  t.like(p, { type: PacketType.Data, session: 7, piece: 3, offset: FRAGMENT_BYTES, pieces: 9 });
  t.true(p!.data.equals(data));
  t.is(decodePacket(Buffer.from('hello world, this is not a packet')), null);
  t.is(decodePacket(encodePacket({ type: PacketType.Data, session: 7, piece: 0, offset: FRAGMENT_BYTES, pieceLength: FRAGMENT_BYTES, pieces: 1 }, data)), null);
  const v2 = encodePacket({ type: PacketType.End, session: 7, piece: 0, offset: 0, pieceLength: 0, pieces: 1 });
  v2.writeUInt8(2, 4);
  t.is(decodePacket(v2), null);
});

test('missingRanges: lost fragments as byte ranges, near runs joined, the last one cut at the piece end', (t) => {
  const F = FRAGMENT_BYTES;
  const got = Uint8Array.from([1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0]);
  const len = 11 * F + 100;
  t.deepEqual(missingRanges(got, len), [[F, 2 * F], [8 * F, len]]);
  t.deepEqual(missingRanges(Uint8Array.from([0, 1, 0]), 3 * F), [[0, 3 * F]]);
  t.deepEqual(missingRanges(Uint8Array.from([1, 1]), 2 * F), []);
});

test('manifest: gaps, overlaps, repeated names and unsafe names are refused; the session tag follows the content', (t) => {
  const sha = 'a'.repeat(64);
  const ok = { format: 'netimage-seed/1', files: [{ name: 'a.img', size: 10, pieces: [[0, 4, sha], [4, 6, sha]] }] };
  t.notThrows(() => parseManifest(ok));
  t.throws(() => parseManifest({ ...ok, files: [{ name: 'a.img', size: 10, pieces: [[0, 4, sha], [5, 5, sha]] }] }), { message: /gap or overlaps/ });
  t.throws(() => parseManifest({ ...ok, files: [{ name: 'a.img', size: 11, pieces: [[0, 4, sha], [4, 6, sha]] }] }), { message: /cover 10 of 11/ });
  t.throws(() => parseManifest({ ...ok, files: [ok.files[0], ok.files[0]] }), { message: /repeat/ });
  t.throws(() => parseManifest({ ...ok, files: [{ ...ok.files[0], name: '../etc/passwd' }] }), { message: /plain names/ });
  t.not(sessionOf(parseManifest(ok)), sessionOf(parseManifest({ ...ok, files: [{ name: 'b.img', size: 10, pieces: [[0, 4, sha], [4, 6, sha]] }] })));
});
