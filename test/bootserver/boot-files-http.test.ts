// Boot files over HTTP (bootserver/http/boot-files.ts): what grub and firmware need from HTTP
// (ranges, HEAD, canonical "Content-Length"), and that the disk files go through the shared
// boot-file source. The name rules themselves are tested once in boot-file-source.test.ts.
import test from 'ava';
import { mkdir, writeFile, symlink } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { randomBytes, createHash } from 'node:crypto';
import { tempDir } from '../helpers/tempdir.ts';
import { startTestServer } from '../helpers/server.ts';

test('boot files: ranges, HEAD, not-found', async (t) => {
  const root = join(await tempDir(t, 'bootroot'), 'root');
  await mkdir(join(root, 'netimage'), { recursive: true });
  const data = randomBytes(300_000);
  await writeFile(join(root, 'netimage', 'initrd'), data);
  const ts = await startTestServer({ overrides: { 'paths.bootRoot': root } });
  t.teardown(() => ts.stop());
  const full = Buffer.from(await (await fetch(`${ts.url}/boot/netimage/initrd`)).arrayBuffer());
  t.is(createHash('sha256').update(full).digest('hex'), createHash('sha256').update(data).digest('hex'));
  const part = await fetch(`${ts.url}/boot/netimage/initrd`, { headers: { range: 'bytes=1000-1999' } });
  t.is(part.status, 206);
  t.is(part.headers.get('content-range'), `bytes 1000-1999/${data.length}`);
  t.deepEqual(Buffer.from(await part.arrayBuffer()), data.subarray(1000, 2000));
  const tail = await fetch(`${ts.url}/boot/netimage/initrd`, { headers: { range: 'bytes=-10' } });
  t.deepEqual(Buffer.from(await tail.arrayBuffer()), data.subarray(data.length - 10));
  t.is((await fetch(`${ts.url}/boot/netimage/initrd`, { headers: { range: `bytes=${data.length}-` } })).status, 416);
  const head = await fetch(`${ts.url}/boot/netimage/initrd`, { method: 'HEAD' });
  t.is(head.headers.get('content-length'), String(data.length));
  t.is((await fetch(`${ts.url}/boot/nosuch`)).status, 404);
  t.is((await fetch(`${ts.url}/boot/netimage`)).status, 404, 'a directory is not a file');
});

test('disk files go through the shared boot-file source: a symlink out of the root is refused', async (t) => {
  const dir = await tempDir(t, 'bootroot');
  const root = join(dir, 'root');
  await mkdir(join(root, 'netimage'), { recursive: true });
  await writeFile(join(dir, 'secret.txt'), 'TOPSECRET-CONTENT');
  await symlink(join(dir, 'secret.txt'), join(root, 'netimage', 'escape'));
  await symlink('kernel', join(root, 'netimage', 'inside'));
  await writeFile(join(root, 'netimage', 'kernel'), 'KERNEL');
  const ts = await startTestServer({ overrides: { 'paths.bootRoot': root } });
  t.teardown(() => ts.stop());
  const r = await fetch(`${ts.url}/boot/netimage/escape`);
  t.is(r.status, 404);
  t.notRegex(await r.text(), /TOPSECRET/);
  t.is(await (await fetch(`${ts.url}/boot/netimage/inside`)).text(), 'KERNEL');
  // HTTP decodes the URL once, then the shared rules apply ("\" is a separator, ".." refused).
  t.is(await (await fetch(`${ts.url}/boot/netimage%5ckernel`)).text(), 'KERNEL');
  t.is((await fetch(`${ts.url}/boot/netimage/%2e%2e%5c..%5csecret.txt`)).status, 404);
});

test('boot files carry "Content-Length" in canonical case (grub matches it case-sensitively)', async (t) => {
  const root = join(await tempDir(t, 'bootroot'), 'root');
  await mkdir(join(root, 'netimage'), { recursive: true });
  await writeFile(join(root, 'netimage', 'kernel'), randomBytes(5000));
  const ts = await startTestServer({ overrides: { 'paths.bootRoot': root } });
  t.teardown(() => ts.stop());
  const port = new URL(ts.url).port;
  const rawGet = (path: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port: Number(port) }, () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      let data = '';
      socket.on('data', (c) => (data += c.toString('latin1')));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
  for (const path of ['/boot/netimage/kernel', '/boot/grub/grub.cfg']) {
    const response = await rawGet(path);
    const head = response.slice(0, response.indexOf('\r\n\r\n'));
    t.regex(head, /^HTTP\/1\.1 200 OK\r\n/, path);
    t.regex(head, /\r\nContent-Length: \d+/, path);
    t.notRegex(head, /Transfer-Encoding: chunked/i, path);
  }
});
