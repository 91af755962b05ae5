// The TFTP server opens disk files through the shared boot-file source, whose name rules are
// tested once in test/bootserver/boot-file-source.test.ts. Here: that a refusal reaches the wire
// as a TFTP ERROR with no byte of the file, and the TFTP-only trick of a NUL inside the packet.

import test from 'ava';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OP_DATA, OP_ERROR, OP_RRQ, TFTP_ERROR } from '../../bootserver/tftp/codec.ts';
import { diskFileSource } from '../../bootserver/tftp/files.ts';
import { RawClient, startServer, tempDir } from './helpers.ts';

const MARKER = 'NETIMAGE-SECRET-7f3a9c';

test('a name the boot-file source refuses gets ERROR 2 and never a byte from outside the root', async (t) => {
  const dir = await tempDir(t, 'trav');
  const root = path.join(dir, 'root');
  await mkdir(path.join(root, 'grub'), { recursive: true });
  await writeFile(path.join(root, 'grub', 'grub.cfg'), 'inside');
  await writeFile(path.join(dir, 'secret'), MARKER);
  await symlink('../../secret', path.join(root, 'grub', 'deep-link'));
  const server = await startServer(t, diskFileSource(root));
  const c = await RawClient.open(t);

  for (const name of ['..\\secret', 'grub/deep-link']) {
    c.rrq(server.port, name);
    const replies = await c.collect(120);
    t.is(replies.length, 1, name);
    t.is(replies[0]?.packet?.op, OP_ERROR, name);
    t.is(replies[0]?.packet?.op === OP_ERROR ? replies[0].packet.code : null, TFTP_ERROR.accessViolation, name);
    t.false(replies[0]?.raw.includes(MARKER), 'no secret bytes');
  }

  // Hand-built packets: a NUL inside the name region ends the name (the rest reads as mode).
  const raw = (name: Buffer) => Buffer.concat([Buffer.from([0, OP_RRQ]), name, Buffer.from('\0octet\0')]);
  for (const name of [Buffer.from('..\0/secret'), Buffer.from([0x2e, 0x2e, 0x2f, 0xc0, 0xaf, 0x73])]) {
    c.send(server.port, raw(name));
    for (const r of await c.collect(120)) {
      t.not(r.packet?.op, OP_DATA);
      t.false(r.raw.includes(MARKER));
    }
  }
  t.is(server.stats().completed, 0);
  t.is(server.stats().active, 0);
  t.is((await c.download(server.port, '/grub/grub.cfg')).toString(), 'inside');
});
