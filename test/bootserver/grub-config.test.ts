import test from 'ava';
import { startTestServer, readBootConfig, parseNetbootConfig, clientConfigPath } from '../helpers/server.ts';
import { grubQuote, grubKernelArg } from '../../bootserver/boot/grub-render.ts';
import { parseClientConfigPath } from '../../bootserver/boot/config-responder.ts';

const MAC1 = '52:54:00:00:00:01';
const MAC2 = '52:54:00:00:00:02';
const UUID1 = '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';

test('client config paths parse; junk does not', (t) => {
  t.deepEqual(parseClientConfigPath(`grub/client/efi/mac-${MAC1}/uuid-${UUID1}.cfg`), { firmware: 'uefi', mac: MAC1, uuid: UUID1 });
  t.deepEqual(parseClientConfigPath(`/grub/client/pc/mac-52:54:00:00:00:01/uuid-.cfg`), { firmware: 'bios', mac: MAC1, uuid: null });
  t.deepEqual(parseClientConfigPath('grub/client/efi/mac-/uuid-00000000-0000-0000-0000-000000000000.cfg'), { firmware: 'uefi', mac: null, uuid: null });
  t.is(parseClientConfigPath('grub/client/efi/mac-x/uuid-y.cfg'), null);
  t.is(parseClientConfigPath('grub/client/../../etc/passwd'), null);
});

test('grubQuote makes any value one inert word', (t) => {
  t.is(grubQuote('plain'), "'plain'");
  t.is(grubQuote("it's"), `'it'\\''s'`);
  t.is(grubQuote('a\nreboot; $x'), "'a reboot; $x'");
  t.is(grubKernelArg('netimage.job=abc'), 'netimage.job=abc');
  t.is(grubKernelArg('a;b'), "'a;b'");
});

test('a client registered by MAC gets its netboot config; one registered by UUID only is found by UUID', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/clients', { id: 'by-mac', mac: MAC1 });
  await ts.api('POST', '/api/v1/clients', { id: 'by-uuid', uuid: UUID1 });
  await ts.api('PUT', '/api/v1/clients/by-mac/products/hwinvent/action', { actionRequest: 'setup' });
  await ts.api('PUT', '/api/v1/clients/by-uuid/products/hwinvent/action', { actionRequest: 'setup' });
  t.regex(await readBootConfig(ts, MAC1, null), /hwinvent' for 'by-mac'/);
  // different MAC (e.g. a docking station NIC), same machine UUID
  t.regex(await readBootConfig(ts, MAC2, UUID1), /hwinvent' for 'by-uuid'/);
});

test('MAC wins over UUID by default, UUID first when configured (as opsi host_identifiers)', async (t) => {
  for (const [order, expected] of [[['mac', 'uuid'], 'by-mac'], [['uuid', 'mac'], 'by-uuid']] as const) {
    const ts = await startTestServer({ overrides: { 'boot.hostIdentifiers': order } });
    await ts.api('POST', '/api/v1/clients', { id: 'by-mac', mac: MAC1 });
    await ts.api('POST', '/api/v1/clients', { id: 'by-uuid', uuid: UUID1 });
    for (const id of ['by-mac', 'by-uuid']) await ts.api('PUT', `/api/v1/clients/${id}/products/hwinvent/action`, { actionRequest: 'setup' });
    t.regex(await readBootConfig(ts, MAC1, UUID1), new RegExp(`for '${expected}'`), order.join(','));
    await ts.stop();
  }
});

test('idle and unknown clients get a local-boot config (UEFI searches loaders, BIOS chainloads), never a job', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/clients', { id: 'idle', mac: MAC1 });
  const uefi = await readBootConfig(ts, MAC1, null, 'efi');
  t.regex(uefi, /no pending netboot action/);
  t.regex(uefi, /\/EFI\/Microsoft\/Boot\/bootmgfw\.efi/);
  t.regex(uefi, /chainloader \(\$netimage_esp\)\$netimage_loader/);
  t.regex(uefi, /\nexit\n$/);
  t.notRegex(uefi, /linux /);
  const bios = await readBootConfig(ts, MAC2, null, 'pc');
  t.regex(bios, /unknown client/);
  t.regex(bios, /chainloader \+1/);
  t.is((await ts.api('GET', '/api/v1/jobs')).body.length, 0);
  t.is((await ts.api('GET', '/api/v1/clients')).body.length, 1, 'unknown client was not registered');
});

test('boot unknown clients: registers the client and runs only hwinvent', async (t) => {
  const ts = await startTestServer({ overrides: { 'boot.bootUnknownClients': true } });
  t.teardown(() => ts.stop());
  const cfg = await readBootConfig(ts, MAC2, UUID1);
  t.regex(cfg, /'hwinvent' for 'pc-525400000002'/);
  const c = await ts.api('GET', '/api/v1/clients/pc-525400000002');
  t.like(c.body, { mac: MAC2, uuid: UUID1 });
  const jobs = (await ts.api('GET', '/api/v1/jobs')).body;
  t.is(jobs.length, 1);
  t.is(jobs[0].productId, 'hwinvent');
});

test('property values and descriptions cannot break out of the config; control characters are refused at the edge', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const evil = "x'; reboot; echo '$(rm) \" ${net_default_mac}";
  const r = await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: MAC1, description: evil });
  t.is(r.status, 201);
  // An image name is a directory on the PC: such a value is refused outright now (lib/image-names.ts).
  const evilImage = await ts.api('PUT', '/api/v1/clients/pc01/products/opsi-local-image-backup/action', { actionRequest: 'setup', properties: { imagefile: evil } });
  t.is(evilImage.status, 400);
  t.regex(evilImage.body.message, /imagefile: image name .* contains characters that are not allowed/);
  t.is((await ts.api('PUT', '/api/v1/clients/pc01/products/opsi-local-image-backup/action', { actionRequest: 'setup', properties: { imagefile: 'win11' } })).status, 200);
  const bad = await ts.api('PUT', '/api/v1/clients/pc01/products/opsi-local-image-backup/properties', { values: { imagefile: 'a\nreboot' } });
  t.is(bad.status, 400);
  t.regex(bad.body.message, /control characters/);
  const cfg = await readBootConfig(ts, MAC1, null);
  // Every line is a comment, a known command, or block syntax: nothing injected.
  for (const line of cfg.split('\n')) {
    t.regex(line.trim(), /^(#.*|set timeout=0|echo .*|linux .*|initrd .*|boot|insmod http|)$/, line);
  }
  t.notRegex(cfg, /reboot/);
  t.notRegex(cfg, /rm\)/);
});

test('the top-level grub.cfg asks for the client path the server parses', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const res = await fetch(`${ts.url}/boot/grub/grub.cfg`);
  const top = await res.text();
  t.regex(top, /configfile \(tftp,\$netimage_server\)\/grub\/client\/\$\{grub_platform\}\/mac-\$\{net_default_mac\}\/uuid-\$\{netimage_uuid\}\.cfg/);
  t.regex(top, /smbios --type 1 --get-uuid 8 --set netimage_uuid/);
  // What grub asks for after expanding the variables is what the server understands.
  const expanded = clientConfigPath(MAC1, UUID1, 'efi').replace(/^\/boot\//, '');
  t.truthy(parseClientConfigPath(expanded));
});

test('reading the config again within the same boot gives the same attempt and token', async (t) => {
  const ts = await startTestServer({});
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: MAC1 });
  await ts.api('PUT', '/api/v1/clients/pc01/products/hwinvent/action', { actionRequest: 'setup' });
  const a = parseNetbootConfig(await readBootConfig(ts, MAC1, null))!;
  const b = parseNetbootConfig(await readBootConfig(ts, MAC1, null))!;
  t.is(a.token, b.token);
  t.is(b.attempt, 1);
  t.is((await ts.api('GET', '/api/v1/jobs')).body.length, 1);
});

test('boot.initrd: stage 1 only by default and with two-stage (TFTP and HTTP), the whole image with single', async (t) => {
  for (const [initrd, transport, expected] of [
    [undefined, 'tftp', /^initrd \(tftp,[^)]*\)\/netimage\/stage1$/m],
    ['single', 'tftp', /^initrd \(tftp,[^)]*\)\/netimage\/initrd$/m],
    ['two-stage', 'tftp', /^initrd \(tftp,[^)]*\)\/netimage\/stage1$/m],
    ['two-stage', 'http', /^initrd \(http,[^)]*\)\/boot\/netimage\/stage1$/m],
  ] as const) {
    const ts = await startTestServer({ overrides: { ...(initrd ? { 'boot.initrd': initrd } : {}), 'boot.kernelTransport': transport } });
    t.teardown(() => ts.stop());
    await ts.api('POST', '/api/v1/clients', { id: 'pc', mac: MAC1 });
    await ts.api('PUT', '/api/v1/clients/pc/products/hwinvent/action', { actionRequest: 'setup' });
    const cfg = await readBootConfig(ts, MAC1, null);
    t.regex(cfg, expected, `${initrd ?? 'default'}/${transport}:\n${cfg}`);
    t.regex(cfg, /^linux \([^)]*\)\/(boot\/)?netimage\/kernel /m);
  }
});
