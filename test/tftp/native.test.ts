// The native sender (bootserver/tftp/native/tftpsend.c) against the Node path (transfer.ts): each
// case runs on both, so the fallback stays tested and both keep the same rules. The rest of
// test/tftp/ runs on whichever path is the default (native once set-up built it).

import test, { type ExecutionContext } from 'ava';
import { readFile, readlink, rename, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { repoRoot } from '../../lib/paths.ts';
import dgram from 'node:dgram';
import { OP_DATA, OP_ERROR, OP_OACK, OP_RRQ, serializePacket } from '../../bootserver/tftp/codec.ts';
import { diskFileSource, virtualFileSource } from '../../bootserver/tftp/files.ts';
import { buildTftpSender, SENDER_CACHE } from '../../bootserver/tftp/native-sender.ts';
import { RawClient, randomFile, sha256, startServer, tempDir } from './helpers.ts';

const senderBinary = await buildTftpSender(join(repoRoot, SENDER_CACHE));
const paths = [
  ['native', senderBinary],
  ['node', null],
] as const;

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

for (const [name, nativeSender] of paths) {
  test(`${name}: a size probe (tsize, then ERROR 8 after our OACK, as UEFI PXE does before each download) is counted as one, not as a failed transfer`, async (t) => {
    const root = await tempDir(t, `probe-${name}`);
    await randomFile(root, 'shimx64.efi', 5000);
    const server = await startServer(t, diskFileSource(root), { nativeSender });
    const c = await RawClient.open(t);
    c.rrq(server.port, 'shimx64.efi', { tsize: '0', blksize: '1468' });
    const oack = await c.next();
    if (oack?.packet?.op !== OP_OACK) return t.fail(`expected an OACK, got ${JSON.stringify(oack?.packet)}`);
    t.is(oack.packet.options['tsize'], '5000');
    c.send(oack.rinfo.port, { op: OP_ERROR, code: 8, message: 'tsize only' });
    t.true(await waitFor(() => server.stats().active === 0 && server.stats().sizeProbes === 1, 3000), JSON.stringify(server.stats()));
    t.is(server.stats().failed, 0);
    // Without tsize, an ERROR 8 after the OACK is the client refusing our options: a failed transfer.
    const d = await RawClient.open(t);
    d.rrq(server.port, 'shimx64.efi', { blksize: '1468' });
    const oack2 = await d.next();
    if (oack2?.packet?.op !== OP_OACK) return t.fail();
    d.send(oack2.rinfo.port, { op: OP_ERROR, code: 8, message: 'no thanks' });
    t.true(await waitFor(() => server.stats().active === 0 && server.stats().failed === 1, 3000), JSON.stringify(server.stats()));
    t.is(server.stats().sizeProbes, 1);
  });

  const expectNative = (t: ExecutionContext, n: number, server: { stats(): { native: number } }) =>
    t.is(server.stats().native, nativeSender ? n : 0, `transfers on the native sender (${name} path)`);

  test(`${name}: disk files are served (lock-step and windowed, blksize 1468/512), generated files stay in Node`, async (t) => {
    const root = await tempDir(t, `nat-basic-${name}`);
    const sum = await randomFile(root, 'f', 300_001);
    const gen = Buffer.from('set timeout=0\n');
    const server = await startServer(t, { resolve: (p, r) => (p === 'gen.cfg' ? virtualFileSource(() => gen).resolve(p, r) : diskFileSource(root).resolve(p, r)) }, { nativeSender });
    // A client (a TID) per transfer, as real clients do (the same port again right after the final
    // ACK can be taken for a retransmitted RRQ on a loaded host, see server.test.ts "symlinks").
    const download = async (file: string, options?: Record<string, string>) => (await RawClient.open(t)).download(server.port, file, options);
    t.is(sha256(await download('f')), sum);
    t.is(sha256(await download('f', { blksize: '1468', tsize: '0' })), sum);
    t.is(sha256(await download('f', { blksize: '512', windowsize: '8' })), sum);
    t.deepEqual(await download('gen.cfg'), gen);
    await waitFor(() => server.stats().completed === 4, 2000);
    t.is(server.stats().completed, 4);
    expectNative(t, 3, server);
  });

  test(`${name}: a lost ACK is recovered by the timeout, duplicate ACKs get no data`, async (t) => {
    const root = await tempDir(t, `nat-lost-${name}`);
    await randomFile(root, 'f', 5000);
    const server = await startServer(t, diskFileSource(root), { timeoutMs: 1000, nativeSender });
    const c = await RawClient.open(t);
    c.rrq(server.port, 'f', { blksize: '1024' });
    const oack = await c.next();
    if (oack?.packet?.op !== OP_OACK) return t.fail('expected OACK');
    const tid = oack.rinfo.port;
    // The ACK of the OACK is "lost": the OACK comes again after the timeout, nothing before.
    t.is((await c.collect(700)).length, 0);
    const again = await c.next(2000);
    t.is(again?.packet?.op, OP_OACK, 'OACK resent after the timeout');
    c.ack(tid, 0);
    const d1 = await c.next();
    t.true(d1?.packet?.op === OP_DATA && d1.packet.block === 1);
    c.ack(tid, 1);
    const d2 = await c.next();
    t.true(d2?.packet?.op === OP_DATA && d2.packet.block === 2);
    for (let i = 0; i < 5; i++) c.ack(tid, 1);
    t.is((await c.collect(500)).length, 0, 'no packet in answer to duplicate ACKs');
    const resent = await c.next(3000);
    t.true(resent?.packet?.op === OP_DATA && resent.packet.block === 2, 'block 2 resent after the timeout');
    for (let b = 2; b <= 4; b++) {
      c.ack(tid, b);
      const d = await c.next();
      if (d?.packet?.op !== OP_DATA) return t.fail(`no block ${b + 1}`);
      t.is(d.packet.block, b + 1);
    }
    c.ack(tid, 5);
    t.true(await waitFor(() => server.stats().completed === 1, 2000));
    const s = server.stats();
    t.is(s.failed, 0);
    expectNative(t, 1, server);
  });

  test(`${name}: a client that vanishes ends the transfer at once (port unreachable), not after the retries`, async (t) => {
    const root = await tempDir(t, `nat-gone-${name}`);
    await randomFile(root, 'f', 100_000);
    const server = await startServer(t, diskFileSource(root), { timeoutMs: 1000, retries: 5, nativeSender });
    // A socket of its own: RawClient's teardown would close it a second time.
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const first = new Promise<Buffer>((r) => s.once('message', (m) => r(m)));
    s.send(serializePacket({ op: OP_RRQ, filename: 'f', mode: 'octet', options: {}, optionOrder: [] }), server.port, '127.0.0.1');
    t.is((await first)[1], OP_DATA);
    s.close();
    // The first retransmit (1 s) meets ICMP port unreachable; the transfer ends 100 ms later.
    const t0 = Date.now();
    t.true(await waitFor(() => server.stats().failed === 1, 4000), 'transfer failed');
    t.true(Date.now() - t0 < 2500, `ended after ${Date.now() - t0} ms, not after 5 retries`);
    t.is(server.stats().active, 0);
    expectNative(t, 1, server);
  });

  test(`${name}: a file replaced by rename mid-transfer is served as it was; one truncated mid-transfer ends with an ERROR`, async (t) => {
    const root = await tempDir(t, `nat-replace-${name}`);
    const original = randomBytes(3 * 1024 * 1024);
    await writeFile(join(root, 'f'), original);
    const server = await startServer(t, diskFileSource(root), { nativeSender });
    const c = await RawClient.open(t);
    c.rrq(server.port, 'f', { blksize: '1468' });
    const oack = await c.next();
    if (oack?.packet?.op !== OP_OACK) return t.fail();
    const tid = oack.rinfo.port;
    c.ack(tid, 0);
    const got: Buffer[] = [];
    for (let expected = 1; ; expected++) {
      const d = await c.next(3000);
      if (d?.packet?.op !== OP_DATA) return t.fail(`stalled at ${expected}`);
      got.push(Buffer.from(d.packet.data));
      if (expected === 10) {
        await writeFile(join(root, 'f.new'), randomBytes(original.length));
        await rename(join(root, 'f.new'), join(root, 'f'));
      }
      c.ack(tid, d.packet.block);
      if (d.packet.data.length < 1468) break;
    }
    t.is(sha256(Buffer.concat(got)), sha256(original), 'the old content, whole');

    const c2 = await RawClient.open(t);
    c2.rrq(server.port, 'f', { blksize: '1468' });
    const o2 = await c2.next();
    if (o2?.packet?.op !== OP_OACK) return t.fail();
    c2.ack(o2.rinfo.port, 0);
    let error: string | null = null;
    for (let expected = 1; expected < 5000; expected++) {
      const d = await c2.next(3000);
      if (!d?.packet) return t.fail(`stalled at ${expected}`);
      if (d.packet.op === OP_ERROR) {
        error = d.packet.message;
        break;
      }
      if (d.packet.op !== OP_DATA) return t.fail();
      if (expected === 10) await truncate(join(root, 'f'), 100_000);
      c2.ack(o2.rinfo.port, d.packet.block);
    }
    t.regex(error ?? '', /file shrank/);
    t.true(await waitFor(() => server.stats().failed === 1, 2000));
    expectNative(t, 2, server);
  });
}

// Serial: it finds the helper among this process's children, and other tests' servers have their own.
test.serial('native: the helper dying mid-transfer fails its transfers; later ones are served from Node', async (t) => {
  const root = await tempDir(t, 'nat-crash');
  const sum = await randomFile(root, 'f', 200_000);
  const server = await startServer(t, diskFileSource(root), { nativeSender: senderBinary });
  const c = await RawClient.open(t);
  c.rrq(server.port, 'f');
  const d1 = await c.next();
  if (d1?.packet?.op !== OP_DATA) return t.fail();
  // The helper is this process's child running tftpsend.
  const kids = (await readFile(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8')).trim().split(/\s+/);
  let helper = 0;
  for (const k of kids) if ((await readlink(`/proc/${k}/exe`).catch(() => '')) === senderBinary) helper = Number(k);
  t.true(helper > 0, 'helper found');
  process.kill(helper, 'SIGKILL');
  t.true(await waitFor(() => server.stats().failed === 1 && server.stats().active === 0, 3000), 'the running transfer is counted failed');
  const c2 = await RawClient.open(t);
  t.is(sha256(await c2.download(server.port, 'f')), sum);
  t.true(await waitFor(() => server.stats().completed === 1, 2000));
  t.is(server.stats().native, 1, 'the second transfer ran in Node');
});

test('native: stop() ends running native transfers with an ERROR', async (t) => {
  const root = await tempDir(t, 'nat-stop');
  await randomFile(root, 'f', 50_000);
  const server = await startServer(t, diskFileSource(root), { nativeSender: senderBinary });
  const c = await RawClient.open(t);
  c.rrq(server.port, 'f');
  t.is((await c.next())?.packet?.op, OP_DATA);
  await server.stop();
  const r = await c.next();
  t.true(r?.packet?.op === OP_ERROR && r.packet.code === 0 && r.packet.message === 'server shutting down');
  t.is(server.stats().active, 0);
  t.is(server.stats().failed, 1);
});
