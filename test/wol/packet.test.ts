import test from 'ava';
import type { NetworkInterfaceInfo } from 'node:os';
import { defaultWakeTarget, directedBroadcast, magicPacket, MAGIC_PACKET_BYTES } from '../../bootserver/wol/packet.ts';

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

test('the default target is the broadcast of the interface holding the advertised address; an advertised address on none is refused, naming the settings', (t) => {
  const nic = (address: string, netmask: string, internal = false): NetworkInterfaceInfo =>
    ({ address, netmask, family: 'IPv4', internal, mac: '00:00:00:00:00:00', cidr: null }) as NetworkInterfaceInfo;
  const interfaces = { lo: [nic('127.0.0.1', '255.0.0.0', true)], eth0: [nic('192.0.2.2', '255.255.255.0')], eth1: [nic('10.1.0.1', '255.255.0.0')] };
  t.deepEqual(defaultWakeTarget('10.1.0.1', interfaces), { broadcast: '10.1.255.255', problem: null });
  t.deepEqual(defaultWakeTarget(null, interfaces), { broadcast: '192.0.2.255', problem: null }, 'no advertised address: first non-internal interface');
  // Not another network's broadcast: the packets would wake nobody, or the wrong room.
  t.deepEqual(defaultWakeTarget('203.0.113.9', interfaces), {
    broadcast: null,
    problem:
      "advertisedIp 203.0.113.9 is on none of this server's interfaces (192.0.2.2/24, 10.1.0.1/16), so the PCs' network is not known: set wake.broadcast to the PCs' subnet broadcast (e.g. 10.1.101.255), or give each group its own (netimage group wake-target <group> <broadcast>)",
  });
  t.deepEqual(defaultWakeTarget(null, { lo: interfaces.lo }), {
    broadcast: null,
    problem: "this server has no IPv4 network interface besides loopback: set wake.broadcast to the PCs' subnet broadcast (e.g. 10.1.101.255), or give each group its own (netimage group wake-target <group> <broadcast>)",
  });
});
