import test from 'ava';
import { writeFile, readFile, mkdir } from 'node:fs/promises';
import { tempDir } from '../helpers/tempdir.ts';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { run } from '../../lib/process.ts';
import { startTestServer, parseNetbootConfig } from '../helpers/server.ts';
import { RawClient } from '../tftp/helpers.ts';
import { OP_ERROR, TFTP_ERROR } from '../../bootserver/tftp/codec.ts';

const MAC = '52:54:00:00:40:01';
const UUID = '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';

async function tftpGet(port: number, path: string, out: string): Promise<Buffer> {
  await run('curl', ['-sS', '--fail', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${port}/${path}`]);
  return readFile(out);
}

test('over TFTP the server gives grub.cfg, the per-client config (creating the job) and boot files', async (t) => {
  const base = await tempDir(t, 'tftproot');
  const root = join(base, 'root');
  await mkdir(root);
  const loader = randomBytes(200_000);
  await writeFile(join(root, 'shimx64.efi'), loader);
  await mkdir(join(root, 'grub'));
  const ts = await startTestServer({ tftp: true, overrides: { 'paths.bootRoot': root } });
  t.teardown(() => ts.stop());
  const port = ts.server.protocols.tftpPort!;
  t.true(port > 0);
  const out = join(base, 'download');
  t.deepEqual(await tftpGet(port, 'shimx64.efi', out), loader);
  t.regex((await tftpGet(port, 'grub/grub.cfg', out)).toString(), /configfile \(tftp,\$netimage_server\)\/grub\/client/);
  await ts.api('POST', '/api/v1/clients', { id: 'pc01', uuid: UUID });
  await ts.api('PUT', '/api/v1/clients/pc01/products/hwinvent/action', { actionRequest: 'setup' });
  // grub expands the path from the top-level config: platform, MAC and SMBIOS UUID
  const cfg = (await tftpGet(port, `grub/client/efi/mac-${MAC}/uuid-${UUID}.cfg`, out)).toString();
  const job = parseNetbootConfig(cfg);
  t.truthy(job, cfg);
  const jobs = (await ts.api('GET', '/api/v1/jobs')).body;
  t.is(jobs[0].id, job!.jobId);
  t.is(jobs[0].state, 'booting');
  const local = (await tftpGet(port, 'grub/client/pc/mac-52:54:00:00:40:99/uuid-.cfg', out)).toString();
  t.regex(local, /unknown client/);
  // A file shim probes for but the boot root lacks: TFTP error 1 "file not found", sent at once
  // from the server port (not a timeout, not another error).
  const client = await RawClient.open(t);
  client.rrq(port, 'revocations_sbat.efi');
  const reply = await client.next(5000);
  t.deepEqual(reply?.packet, { op: OP_ERROR, code: TFTP_ERROR.fileNotFound, message: 'file not found' });
  t.is(reply?.rinfo.port, port);
});
