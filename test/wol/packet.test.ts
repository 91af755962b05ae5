import test from 'ava';
import type { NetworkInterfaceInfo } from 'node:os';
import { defaultBroadcast, directedBroadcast, magicPacket, MAGIC_PACKET_BYTES } from '../../bootserver/wol/packet.ts';

test('a magic packet is 6 x 0xFF then the MAC 16 times (102 bytes)', (t) => {
  const p = magicPacket('52:54:00:AB:cd:0f');
  t.is(p.length, MAGIC_PACKET_BYTES);
  t.deepEqual([...p.subarray(0, 6)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  for (let i = 0; i < 16; i++) t.deepEqual([...p.subarray(6 + i * 6, 12 + i * 6)], [0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f], `repetition ${i}`);
  t.deepEqual(magicPacket('52-54-00-ab-cd-0f'), p, 'dash-separated MACs too');
});

test('a malformed MAC is refused, not sent as garbage', (t) => {
  for (const bad of ['52:54:00:ab:cd', '52:54:00:ab:cd:0g', '', '525400abcd0f ']) t.throws(() => magicPacket(bad), { instanceOf: RangeError });
});

test('directed broadcast sets every host bit of the subnet', (t) => {
  t.is(directedBroadcast('10.1.101.7', '255.255.255.0'), '10.1.101.255');
  t.is(directedBroadcast('172.16.5.9', '255.255.240.0'), '172.16.15.255');
  t.is(directedBroadcast('192.0.2.130', '255.255.255.128'), '192.0.2.255');
  t.is(directedBroadcast('10.0.0.1', '255.0.0.0'), '10.255.255.255');
});

test('the default target is the broadcast of the interface holding the advertised address', (t) => {
  const nic = (address: string, netmask: string, internal = false): NetworkInterfaceInfo =>
    ({ address, netmask, family: 'IPv4', internal, mac: '00:00:00:00:00:00', cidr: null }) as NetworkInterfaceInfo;
  const interfaces = { lo: [nic('127.0.0.1', '255.0.0.0', true)], eth0: [nic('192.0.2.2', '255.255.255.0')], eth1: [nic('10.1.0.1', '255.255.0.0')] };
  t.is(defaultBroadcast('10.1.0.1', interfaces), '10.1.255.255');
  t.is(defaultBroadcast(null, interfaces), '192.0.2.255', 'no advertised address: first non-internal interface');
  t.is(defaultBroadcast('203.0.113.9', interfaces), '192.0.2.255', 'advertised address not local (NAT): first interface');
  t.is(defaultBroadcast(null, { lo: interfaces.lo }), null, 'loopback only: no default');
});
