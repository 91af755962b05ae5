import test from 'ava';
import { Opt, PxeSub, parseDhcp, parseSubOptions, replyTo, encode, type DhcpPacket } from '../../bootserver/dhcp/codec.ts';
import { applyBootFields, classifyBootClient, chooseLoader, HTTP_BOOT_REFUSED, type BootSettings } from '../../bootserver/dhcp/pxe.ts';
import { fixture } from './helpers.ts';

const settings: BootSettings = { serverIp: '10.98.0.1', ipxeScriptUrl: null };

function parse(name: string): DhcpPacket {
  const r = parseDhcp(fixture(name));
  if (!r.ok) throw new Error(r.reason);
  return r.packet;
}

/** OVMF's PXE DISCOVER turned into what OVMF's HTTP boot sends (arch 16, HTTPClient). */
function httpBootDiscover(): DhcpPacket {
  const p = parse('full/017-discover-68to67.hex');
  p.options.set(Opt.vendorClass, encode.text('HTTPClient:Arch:00016:UNDI:003000'));
  p.options.set(Opt.clientArch, encode.u16(16));
  return p;
}

test('OVMF PXE gets shim; the boot file goes into file AND option 67', (t) => {
  const request = parse('full/017-discover-68to67.hex');
  const d = chooseLoader(request, settings);
  t.true(d.ok);
  if (!d.ok) return;
  t.is(d.bootFile, 'shimx64.efi');
  t.is(d.client.platform, 'efi-x64');
  t.is(d.client.uuid, '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d');
  const reply = replyTo(request);
  applyBootFields(reply, request, d, settings);
  t.is(reply.file, 'shimx64.efi');
  t.is(reply.options.get(Opt.bootfileName)!.toString(), 'shimx64.efi');
  t.is(reply.siaddr, '10.98.0.1');
  t.is(reply.options.get(Opt.tftpServerName)!.toString(), '10.98.0.1');
  t.is(reply.options.get(Opt.vendorClass)!.toString(), 'PXEClient');
  t.deepEqual(reply.options.get(Opt.clientUuid), request.options.get(Opt.clientUuid), 'option 97 echoed');
  const pxe = parseSubOptions(reply.options.get(Opt.vendorSpecific)!)!;
  t.is(pxe.get(PxeSub.discoveryControl)!.toString('hex'), '08', 'boot the given file, no discovery');
});

test('iPXE BIOS gets the Grub PXE image, or the iPXE script when one is configured', (t) => {
  const request = parse('full/011-discover-68to67.hex');
  const plain = chooseLoader(request, settings);
  t.true(plain.ok && plain.bootFile === 'grub/i386-pc/core.0');
  t.true(plain.ok && plain.client.ipxe);
  const scripted = chooseLoader(request, { ...settings, ipxeScriptUrl: 'http://10.98.0.1:8080/boot/netimage.ipxe' });
  t.true(scripted.ok && scripted.bootFile === 'http://10.98.0.1:8080/boot/netimage.ipxe');
  // Not iPXE (OVMF): the script setting does not apply.
  const ovmf = chooseLoader(parse('full/017-discover-68to67.hex'), { ...settings, ipxeScriptUrl: 'http://x/y' });
  t.true(ovmf.ok && ovmf.bootFile === 'shimx64.efi');
});

test('UEFI HTTP boot (arch 16) gets no boot answer: Debian\'s signed Grub stops at a prompt after it', (t) => {
  const request = httpBootDiscover();
  const d = chooseLoader(request, settings);
  t.false(d.ok);
  t.is(d.client?.platform, 'efi-x64-http', 'still recognised as network-boot firmware');
  t.is(d.why, HTTP_BOOT_REFUSED);
});

test('non-boot clients and unknown architectures get no boot answer', (t) => {
  for (const name of ['full/001-discover-68to67.hex', 'full/007-discover-68to67.hex', 'perfdhcp/001-discover-67to67.hex']) {
    const d = chooseLoader(parse(name), settings);
    t.false(d.ok, name);
    t.is(classifyBootClient(parse(name)), undefined, name);
  }
  const arm = parse('full/017-discover-68to67.hex');
  arm.options.set(Opt.clientArch, encode.u16(11));
  const d = chooseLoader(arm, settings);
  t.false(d.ok);
  if (!d.ok) t.regex(d.why, /architecture 11/);
});

test('architecture falls back to option 60 when option 93 is missing', (t) => {
  const p = parse('full/017-discover-68to67.hex');
  p.options.delete(Opt.clientArch);
  const d = chooseLoader(p, settings);
  t.true(d.ok && d.client.arch === 7 && d.bootFile === 'shimx64.efi');
  p.options.set(Opt.vendorClass, encode.text('PXEClient'));
  const bare = chooseLoader(p, settings);
  t.true(bare.ok && bare.client.arch === 0, 'a bare PXEClient is treated as BIOS');
});
