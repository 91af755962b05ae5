import test from 'ava';
import {
  MIN_PACKET_LENGTH,
  Opt,
  PxeSub,
  bootfileName,
  clientArchitectures,
  clientIdHex,
  clientNdi,
  clientUuid,
  encode,
  ipxeOptions,
  isIpxe,
  macOf,
  messageType,
  parameterRequestList,
  parseDhcp,
  pxeVendorOptions,
  requestedIp,
  serializeDhcp,
  serverId,
  tftpServerName,
  userClass,
  uuidFromWire,
  uuidToWire,
  vendorClass,
  type DhcpPacket,
} from '../../bootserver/dhcp/codec.ts';
import { allFixtures, fixture } from './helpers.ts';

function parse(buf: Buffer): DhcpPacket {
  const r = parseDhcp(buf);
  if (!r.ok) throw new Error(r.reason);
  return r.packet;
}

/** Comparable form: Buffers as hex, Map as entries. */
function plain(p: DhcpPacket): unknown {
  return { ...p, chaddr: p.chaddr.toString('hex'), options: [...p.options].map(([k, v]) => [k, v.toString('hex')]) };
}

test('every captured packet parses, and parse -> serialize -> parse is stable', (t) => {
  const fixtures = allFixtures();
  t.true(fixtures.length >= 50, `expected the full capture set, got ${fixtures.length}`);
  for (const [name, bytes] of fixtures) {
    const first = parseDhcp(bytes);
    if (!first.ok) {
      t.fail(`${name}: ${first.reason}`);
      continue;
    }
    const out = serializeDhcp(first.packet);
    t.true(out.length >= MIN_PACKET_LENGTH, `${name} serialized to ${out.length} bytes`);
    const again = parseDhcp(out);
    t.true(again.ok, name);
    if (again.ok) t.deepEqual(plain(again.packet), plain(first.packet), name);
  }
});

test('dnsmasq answers serialize byte-identical in their header and option area', (t) => {
  // dnsmasq writes no pad bytes inside the option area, puts 53 first and pads with zeros: the same
  // shape as ours, so a re-serialized dnsmasq reply must equal the capture byte for byte.
  for (const name of ['full/020-ack-67to68.hex', 'proxy/011-offer-67to68.hex', 'proxy/027-ack-4011to4011.hex', 'perfdhcp/012-ack-67to67.hex']) {
    const bytes = fixture(name);
    t.is(serializeDhcp(parse(bytes)).toString('hex'), bytes.toString('hex'), name);
  }
});

test('OVMF PXE DISCOVER: architecture 7, UNDI 3.0, vendor class, UUID swapped to canonical', (t) => {
  const p = parse(fixture('full/017-discover-68to67.hex'));
  t.is(messageType(p), 'discover');
  t.is(macOf(p), '52:54:00:12:34:56');
  t.is(vendorClass(p), 'PXEClient:Arch:00007:UNDI:003000');
  t.deepEqual(clientArchitectures(p), [7]);
  t.deepEqual(clientNdi(p), { type: 1, major: 3, minor: 0 });
  // Given to QEMU as -smbios type=1,uuid=8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d
  t.is(clientUuid(p), '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d');
  t.is(p.options.get(Opt.clientUuid)!.subarray(1, 5).toString('hex'), '3d2c1b8a', 'wire order of the first field is little-endian');
  const prl = parameterRequestList(p)!;
  for (const code of [Opt.vendorClass, Opt.bootfileName, Opt.tftpServerName, Opt.clientUuid]) t.true(prl.includes(code), `requests ${code}`);
  t.false(isIpxe(p));
});

test('iPXE BIOS DISCOVER: arch 0, user class iPXE, option 175 with sub-options, client id', (t) => {
  const p = parse(fixture('full/011-discover-68to67.hex'));
  t.is(vendorClass(p), 'PXEClient:Arch:00000:UNDI:002001');
  t.deepEqual(clientArchitectures(p), [0]);
  t.deepEqual(clientNdi(p), { type: 1, major: 2, minor: 1 });
  t.is(userClass(p), 'iPXE');
  t.true(isIpxe(p));
  const sub = ipxeOptions(p);
  t.truthy(sub);
  t.true(sub!.size > 0);
  t.is(clientUuid(p), '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9');
  t.is(clientIdHex(p), '01525400abcdef', 'option 61 = htype 1 + MAC');
});

test('iPXE request to port 4011 carries PXE vendor option 43 with a boot item', (t) => {
  const p = parse(fixture('proxy/017-request-68to4011.hex'));
  const sub = pxeVendorOptions(p)!;
  t.is(sub.get(PxeSub.bootItem)!.toString('hex'), '80010000');
});

test('dnsmasq proxy offer with a PXE menu decodes its vendor sub-options', (t) => {
  const p = parse(fixture('proxy/011-offer-67to68.hex'));
  t.is(messageType(p), 'offer');
  t.is(p.yiaddr, '0.0.0.0', 'proxyDHCP never assigns an address');
  t.is(vendorClass(p), 'PXEClient');
  const sub = pxeVendorOptions(p)!;
  t.is(sub.get(PxeSub.discoveryControl)!.toString('hex'), '03');
  t.is(sub.get(PxeSub.bootMenu)!.subarray(3).toString('latin1'), 'netimage');
});

test('dnsmasq full-mode answers: server id, boot file in option 67 or the file field', (t) => {
  const efi = parse(fixture('full/020-ack-67to68.hex'));
  t.is(serverId(efi), '10.98.0.1');
  t.is(efi.yiaddr.startsWith('10.98.0.'), true);
  t.is(bootfileName(efi), 'shimx64.efi');
  const udhcpc = parse(fixture('full/004-offer-67to68.hex'));
  t.is(udhcpc.file, 'grub/i386-pc/core.0');
  t.is(udhcpc.siaddr, '10.98.0.1');
});

test('udhcpc, dhclient and perfdhcp requests', (t) => {
  const u = parse(fixture('proxy/003-request-68to67.hex'));
  t.is(vendorClass(u), 'udhcp 1.35.0');
  t.is(requestedIp(u), '10.98.0.178');
  const d = parse(fixture('full/009-request-68to67.hex'));
  t.is(messageType(d), 'request');
  t.is(serverId(d), '10.98.0.1');
  const perf = parse(fixture('perfdhcp/001-discover-67to67.hex'));
  t.is(perf.giaddr, '10.98.0.50', 'perfdhcp poses as a relay agent');
  t.is(fixture('perfdhcp/001-discover-67to67.hex').length, 262, 'perfdhcp sends shorter than 300 bytes');
  const pxe = parse(fixture('perfdhcp/009-discover-67to67.hex'));
  t.is(vendorClass(pxe), 'PXEClient:Arch:00007:UNDI:003000');
});

test('UUID wire swap is its own inverse and matches the firmware byte order', (t) => {
  const uuid = '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';
  const wire = uuidToWire(uuid);
  t.is(wire.toString('hex'), '3d2c1b8a5f4e6b4a8c7d0e1f2a3b4c5d');
  t.is(uuidFromWire(wire), uuid);
  t.is(uuidFromWire(uuidToWire(uuid.toUpperCase())), uuid, 'output is lowercase');
});

function minimalRequest(options: Buffer): Buffer {
  const b = Buffer.alloc(240);
  b[0] = 1;
  b[1] = 1;
  b[2] = 6;
  b.writeUInt32BE(0x12345678, 4);
  Buffer.from('525400123456', 'hex').copy(b, 28);
  b.writeUInt32BE(0x63825363, 236);
  return Buffer.concat([b, options]);
}

test('pad bytes, split options (RFC 3396) and a missing end option', (t) => {
  const p = parse(minimalRequest(Buffer.from([0, 0, 53, 1, 1, 0, 60, 3, 0x50, 0x58, 0x45, 60, 2, 0x43, 0x6c, 0])));
  t.is(messageType(p), 'discover');
  t.is(vendorClass(p), 'PXECl');
  t.deepEqual([...p.options.keys()], [53, 60]);
});

test('long option values are split on output and joined on input', (t) => {
  const p = parse(minimalRequest(Buffer.from([53, 1, 1, 255])));
  p.options.set(Opt.vendorClass, Buffer.alloc(600, 0x41));
  const wire = serializeDhcp(p);
  const back = parse(wire);
  t.is(back.options.get(Opt.vendorClass)!.length, 600);
});

test('option overload (52): options in file and sname are read, fields come back empty', (t) => {
  const b = minimalRequest(Buffer.from([53, 1, 3, 52, 1, 3, 255]));
  Buffer.from([Opt.requestedIp, 4, 10, 0, 0, 9, 255]).copy(b, 108); // file
  Buffer.from([Opt.hostname, 3, 0x61, 0x62, 0x63, 255]).copy(b, 44); // sname
  const p = parse(b);
  t.is(requestedIp(p), '10.0.0.9');
  t.is(p.options.get(Opt.hostname)!.toString(), 'abc');
  t.false(p.options.has(Opt.overload));
  t.is(p.file, '');
  t.is(p.sname, '');
  const file = minimalRequest(Buffer.from([53, 1, 3, 255]));
  Buffer.from('shimx64.efi').copy(file, 108);
  t.is(parse(file).file, 'shimx64.efi', 'without overload the file field is a name');
});

test('serialize pads to 300 bytes and writes 53 first', (t) => {
  const p = parse(minimalRequest(Buffer.from([60, 1, 0x41, 53, 1, 1, 255])));
  const wire = serializeDhcp(p);
  t.is(wire.length, 300);
  t.deepEqual([...wire.subarray(240, 243)], [53, 1, 1]);
  p.options.set(Opt.tftpServerName, encode.text('10.0.0.1'));
  t.is(tftpServerName(parse(serializeDhcp(p))), '10.0.0.1');
});

test('malformed packets are rejected with a reason, never thrown', (t) => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['empty', Buffer.alloc(0), /too short/],
    ['short', Buffer.alloc(100, 1), /too short/],
    ['bad op', Object.assign(minimalRequest(Buffer.from([255])), { 0: 7 }), /bad op/],
    ['hlen 200', Object.assign(minimalRequest(Buffer.from([255])), { 2: 200 }), /hardware address length/],
    ['truncated option', minimalRequest(Buffer.from([53, 1, 1, 60, 20, 0x41])), /runs past the end/],
    ['no length byte', minimalRequest(Buffer.from([53, 1, 1, 60])), /no length byte/],
    ['bad overload', minimalRequest(Buffer.from([53, 1, 1, 52, 1, 9, 255])), /overload/],
    ['bad message type', minimalRequest(Buffer.from([53, 1, 99, 255])), /message type/],
    ['53 too long', minimalRequest(Buffer.from([53, 2, 1, 1, 255])), /message type/],
  ];
  for (const [name, buf, reason] of cases) {
    const r = parseDhcp(buf);
    t.false(r.ok, name);
    if (!r.ok) t.regex(r.reason, reason, name);
  }
  // Accessors on wrong-length values return undefined instead of garbage.
  const p = parse(minimalRequest(Buffer.from([53, 1, 1, 54, 3, 1, 2, 3, 93, 3, 0, 7, 1, 97, 5, 0, 1, 2, 3, 4, 94, 1, 1, 255])));
  t.is(serverId(p), undefined);
  t.is(clientArchitectures(p), undefined);
  t.is(clientUuid(p), undefined);
  t.is(clientNdi(p), undefined);
});

test('BOOTP without the magic cookie parses as plain BOOTP', (t) => {
  const b = minimalRequest(Buffer.alloc(0));
  b.writeUInt32BE(0, 236);
  const p = parse(b);
  t.false(p.dhcp);
  t.is(messageType(p), undefined);
  t.is(serializeDhcp(p).length, 300);
});
