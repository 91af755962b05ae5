// Traversal attempts against a running server, asserted on the raw UDP replies: every attempt
// gets a TFTP ERROR and not one DATA packet; no reply carries a byte of the files outside the root.

import test from 'ava';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OP_DATA, OP_ERROR, OP_RRQ } from '../../bootserver/tftp/codec.ts';
import { diskFileSource } from '../../bootserver/tftp/files.ts';
import { RawClient, startServer, tempDir } from './helpers.ts';

const MARKER = 'NETIMAGE-SECRET-7f3a9c';

test('traversal attempts get ERROR packets and never a byte from outside the root', async (t) => {
  const dir = await tempDir(t, 'trav');
  const root = path.join(dir, 'a', 'root');
  await mkdir(path.join(root, 'grub'), { recursive: true });
  await writeFile(path.join(root, 'grub', 'grub.cfg'), 'inside');
  await writeFile(path.join(dir, 'secret'), MARKER);
  await writeFile(path.join(dir, 'a', 'secret'), MARKER);
  await symlink(path.join(dir, 'secret'), path.join(root, 'abs-link'));
  await symlink('../secret', path.join(root, 'rel-link'));
  await symlink('../../secret', path.join(root, 'grub', 'deep-link'));
  await symlink('/etc', path.join(root, 'etc-link'));
  const server = await startServer(t, diskFileSource(root));

  const names = [
    '../secret',
    '../../secret',
    '/../secret',
    '/../../secret',
    'grub/../../secret',
    '..\\secret',
    '\\..\\secret',
    'grub\\..\\..\\secret',
    '..%2fsecret',
    '%2e%2e/secret',
    '%2e%2e%2f%2e%2e%2fsecret',
    '..%5c..%5csecret',
    '%252e%252e/secret', // literal name; must simply not exist
    '../etc/passwd',
    '../../../../../../etc/passwd',
    '/etc/passwd', // leading slash = root-relative: not found, never the host's file
    'abs-link',
    'rel-link',
    'grub/deep-link',
    'etc-link/passwd',
    'etc-link/hostname',
    `grub${'\u0000'}../../secret`, // embedded NUL ends the name in the packet; tested raw below too
    '.../secret',
    '.. /secret',
    'x'.repeat(300),
  ];
  const c = await RawClient.open(t);
  for (const name of names) {
    c.rrq(server.port, name);
    const replies = await c.collect(120);
    t.true(replies.length >= 1, `${JSON.stringify(name)} got a reply`);
    for (const r of replies) {
      t.is(r.packet?.op, OP_ERROR, `${JSON.stringify(name)} answered with ERROR`);
      t.false(r.raw.includes(MARKER), 'no secret bytes');
      t.false(r.raw.toString('latin1').includes('root:x:0:0'), 'no /etc/passwd bytes');
    }
  }

  // Hand-built packets: NUL inside the name region, and a name with a control char.
  const raw = (name: Buffer) => Buffer.concat([Buffer.from([0, OP_RRQ]), name, Buffer.from('\0octet\0')]);
  for (const name of [Buffer.from('..\0/secret'), Buffer.from('grub/\x01../../secret'), Buffer.from([0x2e, 0x2e, 0x2f, 0xc0, 0xaf, 0x73])]) {
    c.send(server.port, raw(name));
    const replies = await c.collect(120);
    for (const r of replies) {
      t.not(r.packet?.op, OP_DATA);
      t.false(r.raw.includes(MARKER));
    }
  }
  t.is(server.stats().completed, 0);
  t.is(server.stats().active, 0);

  // The root itself still works.
  t.is((await c.download(server.port, '/grub/grub.cfg')).toString(), 'inside');
});
