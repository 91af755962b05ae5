// The responder's decisions, driven by captured requests. Full mode persists through a real
// SqliteLeaseStore on an in-memory node:sqlite database.
import test from 'ava';
import { DatabaseSync } from 'node:sqlite';
import {
  MessageType,
  Opt,
  encode,
  messageType,
  parseDhcp,
  serverId,
  leaseTime,
  type DhcpPacket,
} from '../../bootserver/dhcp/codec.ts';
import { dhcpConfigSchema, fullRangeOf, type DhcpConfigInput } from '../../bootserver/dhcp/config.ts';
import { DHCP_LEASES_SCHEMA_SQL, SqliteLeaseStore } from '../../bootserver/dhcp/leases.ts';
import { makeNetworkFilter, parseCidr } from '../../bootserver/dhcp/network.ts';
import { AddressPool } from '../../bootserver/dhcp/pool.ts';
import { DhcpResponder, type Outcome } from '../../bootserver/dhcp/responder.ts';
import { fixture } from './helpers.ts';

const SERVER = '10.98.0.1';
const BCAST = { address: '0.0.0.0', port: 68 };

function parse(name: string): DhcpPacket {
  const r = parseDhcp(fixture(name));
  if (!r.ok) throw new Error(r.reason);
  return r.packet;
}

function setup(input: Partial<DhcpConfigInput>, now = () => Date.now()) {
  const config = dhcpConfigSchema.parse({ serverIp: SERVER, ...input });
  const db = new DatabaseSync(':memory:');
  db.exec(DHCP_LEASES_SCHEMA_SQL);
  const store = new SqliteLeaseStore(db);
  const range = fullRangeOf(config);
  const pool = range ? new AddressPool({ ...range, declineSeconds: 600 }, store, now) : undefined;
  const filter = makeNetworkFilter(config.subnet ? () => [parseCidr(config.subnet!)!] : undefined);
  return { responder: new DhcpResponder({ config, filter, pool }), store, db, config };
}

const FULL = { mode: 'full' as const, full: { rangeStart: '10.98.0.100', rangeEnd: '10.98.0.102', subnetMask: '255.255.255.0', router: SERVER, dns: ['10.98.0.53'] } };

function reply(o: Outcome): Extract<Outcome, { kind: 'reply' }> {
  if (o.kind !== 'reply') throw new Error(`expected a reply, got: ${o.why}`);
  return o;
}

/** A REQUEST selecting `ip` from `sid`, built from a captured DISCOVER. */
function selecting(discover: DhcpPacket, ip: string, sid: string): DhcpPacket {
  const p = structuredClone(discover);
  p.chaddr = Buffer.from(discover.chaddr);
  p.options = new Map(discover.options);
  p.options.set(Opt.messageType, encode.u8(MessageType.request));
  p.options.set(Opt.serverId, encode.ip(sid));
  p.options.set(Opt.requestedIp, encode.ip(ip));
  return p;
}

function withType(base: DhcpPacket, type: number, options: Array<[number, Buffer]> = [], ciaddr = '0.0.0.0'): DhcpPacket {
  const p = { ...base, chaddr: Buffer.from(base.chaddr), options: new Map(base.options), ciaddr };
  p.options.set(Opt.messageType, encode.u8(type));
  p.options.delete(Opt.serverId);
  p.options.delete(Opt.requestedIp);
  for (const [k, v] of options) p.options.set(k, v);
  return p;
}

test('proxy: OVMF DISCOVER -> broadcast OFFER with boot fields and no address', (t) => {
  const { responder } = setup({});
  const o = reply(responder.handle(parse('proxy/019-discover-68to67.hex'), 'dhcp', BCAST));
  t.is(o.type, 'offer');
  t.deepEqual(o.to, { address: '255.255.255.255', port: 68 });
  t.is(o.packet.yiaddr, '0.0.0.0');
  t.is(o.packet.file, 'shimx64.efi');
  t.is(serverId(o.packet), SERVER);
  t.is(leaseTime(o.packet), undefined, 'no lease in proxy mode');
});

test('proxy: port 4011 REQUESTs (OVMF, iPXE) get a unicast ACK to the source port', (t) => {
  const { responder } = setup({});
  const ovmf = reply(responder.handle(parse('proxy/026-request-4011to4011.hex'), 'pxe', { address: '10.98.0.157', port: 4011 }));
  t.is(ovmf.type, 'ack');
  t.deepEqual(ovmf.to, { address: '10.98.0.157', port: 4011 });
  t.is(ovmf.packet.file, 'shimx64.efi');
  t.is(ovmf.packet.yiaddr, '0.0.0.0');
  const ipxe = reply(responder.handle(parse('proxy/017-request-68to4011.hex'), 'pxe', { address: '10.98.0.195', port: 68 }));
  t.is(ipxe.packet.file, 'grub/i386-pc/core.0');
});

test('proxy: ignores non-PXE clients, REQUESTs for other servers, and answers nothing with an address', (t) => {
  const { responder } = setup({});
  for (const name of ['proxy/001-discover-68to67.hex', 'proxy/003-request-68to67.hex', 'proxy/005-request-68to67.hex', 'perfdhcp/001-discover-67to67.hex']) {
    t.is(responder.handle(parse(name), 'dhcp', BCAST).kind, 'ignore', name);
  }
  // OVMF's REQUEST to the site's DHCP server (option 54 = that server).
  const toOther = selecting(parse('proxy/019-discover-68to67.hex'), '10.98.0.157', '10.98.0.254');
  const o = responder.handle(toOther, 'dhcp', BCAST);
  t.is(o.kind, 'ignore');
  t.regex(o.why, /for server 10\.98\.0\.254/);
  // ... and the same on port 4011.
  t.is(responder.handle(toOther, 'pxe', { address: '10.98.0.157', port: 68 }).kind, 'ignore');
  // Even a REQUEST on 67 naming our address is left alone: the site's DHCP server may share this
  // host's address, and our address-less ACK would race its ACK.
  const toUs = responder.handle(selecting(parse('proxy/019-discover-68to67.hex'), '10.98.0.157', SERVER), 'dhcp', BCAST);
  t.is(toUs.kind, 'ignore');
  t.regex(toUs.why, /only DISCOVER/);
});

test('subnet filter: relayed or addressed requests from other networks are ignored', (t) => {
  const { responder } = setup({ subnet: '10.98.0.0/24' });
  const relayed = parse('perfdhcp/009-discover-67to67.hex'); // giaddr 10.98.0.50
  t.is(responder.handle(relayed, 'dhcp', { address: '10.98.0.50', port: 67 }).kind, 'reply');
  const elsewhere = { ...relayed, giaddr: '192.168.7.1' };
  const o = responder.handle(elsewhere, 'dhcp', { address: '192.168.7.1', port: 67 });
  t.is(o.kind, 'ignore');
  t.regex(o.why, /not on a served network/);
  // Relayed replies go back to the relay on the server port.
  t.deepEqual(reply(responder.handle(relayed, 'dhcp', { address: '10.98.0.50', port: 67 })).to, { address: '10.98.0.50', port: 67 });
});

test('full: DORA for udhcpc, lease persisted; same client gets the same address again', (t) => {
  const { responder, store } = setup(FULL);
  const discover = parse('full/001-discover-68to67.hex');
  const offer = reply(responder.handle(discover, 'dhcp', BCAST));
  t.is(offer.type, 'offer');
  t.is(offer.packet.yiaddr, '10.98.0.100');
  t.is(leaseTime(offer.packet), 3600);
  t.is(offer.packet.options.get(Opt.subnetMask)!.toString('hex'), 'ffffff00');
  t.is(offer.packet.options.get(Opt.dnsServers)!.toString('hex'), '0a620035');
  t.is(offer.packet.file, '', 'no boot fields for a non-PXE client');
  t.deepEqual(store.all(), [], 'an offer is not a lease');
  const ack = reply(responder.handle(selecting(discover, offer.packet.yiaddr, SERVER), 'dhcp', BCAST));
  t.is(ack.type, 'ack');
  t.is(ack.packet.yiaddr, '10.98.0.100');
  const leases = store.all();
  t.is(leases.length, 1);
  t.is(leases[0]!.ip, '10.98.0.100');
  t.is(leases[0]!.mac, '02:00:00:00:0c:01');
  t.is(leases[0]!.hostname, 'capture');
  t.is(reply(responder.handle(discover, 'dhcp', BCAST)).packet.yiaddr, '10.98.0.100');
});

test('full: PXE clients also get boot fields; a new responder over the same store keeps the lease', (t) => {
  const { responder, store, config } = setup(FULL);
  const discover = parse('full/017-discover-68to67.hex');
  const offer = reply(responder.handle(discover, 'dhcp', BCAST));
  t.is(offer.packet.file, 'shimx64.efi');
  t.is(offer.packet.options.get(Opt.bootfileName)!.toString(), 'shimx64.efi');
  reply(responder.handle(selecting(discover, offer.packet.yiaddr, SERVER), 'dhcp', BCAST));
  const restarted = new DhcpResponder({ config, filter: () => ({ ok: true }), pool: new AddressPool(fullRangeOf(config)!, store) });
  t.is(reply(restarted.handle(discover, 'dhcp', BCAST)).packet.yiaddr, offer.packet.yiaddr);
});

test('full: REQUEST for another server drops our offer; NAK for a taken or foreign address', (t) => {
  const { responder } = setup(FULL);
  const a = parse('full/001-discover-68to67.hex');
  const b = parse('full/017-discover-68to67.hex');
  const offerA = reply(responder.handle(a, 'dhcp', BCAST)).packet.yiaddr;
  t.is(responder.handle(selecting(a, offerA, '10.98.0.254'), 'dhcp', BCAST).kind, 'ignore');
  // The dropped offer is free again: B asking for it (option 50) gets it.
  const bAsks = withType(b, MessageType.discover, [[Opt.requestedIp, encode.ip(offerA)]]);
  t.is(reply(responder.handle(bAsks, 'dhcp', BCAST)).packet.yiaddr, offerA);
  reply(responder.handle(selecting(b, offerA, SERVER), 'dhcp', BCAST));
  const nak = reply(responder.handle(selecting(a, offerA, SERVER), 'dhcp', BCAST));
  t.is(nak.type, 'nak');
  t.deepEqual(nak.to, { address: '255.255.255.255', port: 68 });
  t.regex(nak.packet.options.get(Opt.message)!.toString(), /leased to 52:54:00:12:34:56/);
  // INIT-REBOOT for an address from another network: NAK.
  const foreign = withType(a, MessageType.request, [[Opt.requestedIp, encode.ip('192.168.1.20')]]);
  t.is(reply(responder.handle(foreign, 'dhcp', BCAST)).type, 'nak');
});

test('full: RELEASE frees, DECLINE blocks the address, INFORM answers without an address', (t) => {
  let clock = 1_000_000;
  const { responder, store } = setup(FULL, () => clock);
  const a = parse('full/001-discover-68to67.hex');
  const ip = reply(responder.handle(a, 'dhcp', BCAST)).packet.yiaddr;
  reply(responder.handle(selecting(a, ip, SERVER), 'dhcp', BCAST));
  t.is(responder.handle(withType(a, MessageType.release, [[Opt.serverId, encode.ip(SERVER)]], ip), 'dhcp', { address: ip, port: 68 }).kind, 'ignore');
  t.deepEqual(store.all(), []);

  const b = parse('full/017-discover-68to67.hex');
  const offered = reply(responder.handle(b, 'dhcp', BCAST)).packet.yiaddr;
  reply(responder.handle(selecting(b, offered, SERVER), 'dhcp', BCAST));
  const decline = withType(b, MessageType.decline, [[Opt.serverId, encode.ip(SERVER)], [Opt.requestedIp, encode.ip(offered)]]);
  t.regex(responder.handle(decline, 'dhcp', BCAST).why, /marked in use/);
  t.is(store.all().find((l) => l.ip === offered)?.state, 'declined');
  t.not(reply(responder.handle(b, 'dhcp', BCAST)).packet.yiaddr, offered, 'declined address is not offered again');
  clock += 601_000;
  const c = parse('full/011-discover-68to67.hex');
  const offers = new Set<string>();
  for (const p of [a, c]) offers.add(reply(responder.handle(p, 'dhcp', BCAST)).packet.yiaddr);
  t.true(offers.has(offered), 'after the decline period the address returns to the pool');

  const inform = reply(responder.handle(withType(a, MessageType.inform, [], '10.98.0.77'), 'dhcp', { address: '10.98.0.77', port: 68 }));
  t.is(inform.type, 'ack');
  t.is(inform.packet.yiaddr, '0.0.0.0');
  t.is(leaseTime(inform.packet), undefined);
  t.deepEqual(inform.to, { address: '10.98.0.77', port: 68 });
  t.is(messageType(inform.packet), 'ack');
});

test('full: pool exhaustion leaves new clients unanswered', (t) => {
  const { responder } = setup({ ...FULL, full: { ...FULL.full, rangeEnd: '10.98.0.100' } });
  const a = parse('full/001-discover-68to67.hex');
  reply(responder.handle(selecting(a, reply(responder.handle(a, 'dhcp', BCAST)).packet.yiaddr, SERVER), 'dhcp', BCAST));
  const o = responder.handle(parse('full/017-discover-68to67.hex'), 'dhcp', BCAST);
  t.is(o.kind, 'ignore');
  t.regex(o.why, /exhausted/);
});
