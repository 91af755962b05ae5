// startDhcpServer in-process, on loopback test ports: the exported API the main server wires in.
import test from 'ava';
import { createSocket, type Socket } from 'node:dgram';
import { PassThrough } from 'node:stream';
import { DatabaseSync } from 'node:sqlite';
import { Opt, encode, parseDhcp, serializeDhcp, type DhcpPacket } from '../../bootserver/dhcp/codec.ts';
import { dhcpConfigSchema, type DhcpConfigInput } from '../../bootserver/dhcp/config.ts';
import { DHCP_LEASES_SCHEMA_SQL, SqliteLeaseStore } from '../../bootserver/dhcp/leases.ts';
import { interfaceNetworks, makeNetworkFilter, networkHints, parseCidr } from '../../bootserver/dhcp/network.ts';
import { startDhcpServer } from '../../bootserver/dhcp/server.ts';
import { HTTP_BOOT_REFUSED } from '../../bootserver/dhcp/pxe.ts';
import { createLogger, silentLogger } from '../../lib/logger.ts';
import { fixture, freePorts } from './helpers.ts';

async function testConfig(extra: Partial<DhcpConfigInput> = {}) {
  const [server, pxe, client] = await freePorts(3);
  return dhcpConfigSchema.parse({ serverIp: '127.0.0.1', subnet: '127.0.0.0/8', port: server, pxePort: pxe, clientPort: client, ...extra });
}

/** Bind without SO_REUSEADDR: fails while any other socket still holds the port. */
async function canBindExclusively(port: number): Promise<boolean> {
  const s = createSocket('udp4');
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, '0.0.0.0', () => resolve(true));
  });
  s.close();
  return ok;
}

/** Listen on the client port (broadcast replies land here) and return the first reply with xid. */
async function clientSocket(port: number) {
  const s = createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => s.bind(port, '0.0.0.0', () => r()));
  const replies: DhcpPacket[] = [];
  s.on('message', (d) => {
    const p = parseDhcp(d);
    if (p.ok) replies.push(p.packet);
  });
  const waitFor = async (xid: number, ms = 2000) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const r = replies.find((p) => p.xid === xid);
      if (r) return r;
      await new Promise((res) => setTimeout(res, 10));
    }
    return undefined;
  };
  return { socket: s, replies, waitFor };
}

test('proxy server on loopback: OVMF DISCOVER -> OFFER; info log per answer; stop() frees the ports', async (t) => {
  const config = await testConfig();
  const logStream = new PassThrough();
  let logText = '';
  logStream.on('data', (d: Buffer) => (logText += d.toString()));
  const server = await startDhcpServer(config, { logger: createLogger({ level: 'info', destination: logStream }) });
  const client = await clientSocket(config.clientPort);
  t.teardown(() => client.socket.close());
  const discover = fixture('proxy/019-discover-68to67.hex');
  discover.writeUInt32BE(0xabc00001, 4);
  client.socket.send(discover, config.port, '127.0.0.1');
  const offer = await client.waitFor(0xabc00001);
  t.is(offer?.file, 'shimx64.efi');
  t.is(offer?.yiaddr, '0.0.0.0');
  // A udhcpc DISCOVER: no answer.
  const plain = fixture('proxy/001-discover-68to67.hex');
  plain.writeUInt32BE(0xabc00002, 4);
  client.socket.send(plain, config.port, '127.0.0.1');
  t.is(await client.waitFor(0xabc00002, 300), undefined);
  // OVMF's HTTP boot DISCOVER: no answer either, but an info line saying why (a PC that does not boot).
  const http = parseDhcp(fixture('proxy/019-discover-68to67.hex'));
  if (!http.ok) throw new Error(http.reason);
  http.packet.xid = 0xabc00003;
  http.packet.options.set(Opt.vendorClass, encode.text('HTTPClient:Arch:00016:UNDI:003000'));
  http.packet.options.set(Opt.clientArch, encode.u16(16));
  client.socket.send(serializeDhcp(http.packet), config.port, '127.0.0.1');
  t.is(await client.waitFor(0xabc00003, 300), undefined);
  await server.stop();
  t.regex(logText, /"reply":"offer"/);
  t.regex(logText, /"mac":"52:54:00:12:34:56"/);
  const lines = logText.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; xid?: string; why?: string });
  t.deepEqual(
    lines.filter((l) => l.msg === 'no boot answer').map((l) => [l.xid, l.why]),
    [['abc00003', HTTP_BOOT_REFUSED]],
    'one line for the HTTP boot request, none for the udhcpc one',
  );
  // The server's ports can be bound exclusively again.
  for (const port of [config.port, config.pxePort]) t.true(await canBindExclusively(port), `port ${port}`);
});

test('full server on loopback: lease written through SqliteLeaseStore', async (t) => {
  const config = await testConfig({
    mode: 'full',
    full: { rangeStart: '127.88.0.10', rangeEnd: '127.88.0.20', subnetMask: '255.0.0.0' },
  });
  const db = new DatabaseSync(':memory:');
  db.exec(DHCP_LEASES_SCHEMA_SQL);
  const server = await startDhcpServer(config, { logger: silentLogger, leaseStore: new SqliteLeaseStore(db) });
  t.teardown(() => server.stop());
  const client = await clientSocket(config.clientPort);
  t.teardown(() => client.socket.close());
  const discover = fixture('full/017-discover-68to67.hex');
  discover.writeUInt32BE(0xabc00003, 4);
  client.socket.send(discover, config.port, '127.0.0.1');
  const offer = await client.waitFor(0xabc00003);
  t.is(offer?.yiaddr, '127.88.0.10');
  t.is(offer?.file, 'shimx64.efi');
  const request = fixture('full/019-request-68to67.hex');
  request.writeUInt32BE(0xabc00004, 4);
  // Select our offer: server id 127.0.0.1, requested address 127.88.0.10 (patch the captured values).
  const hex = request.toString('hex').replace('36040a620001', '36047f000001').replace('32040a62009d', '32047f58000a');
  client.socket.send(Buffer.from(hex, 'hex'), config.port, '127.0.0.1');
  const ack = await client.waitFor(0xabc00004);
  t.is(ack?.yiaddr, '127.88.0.10');
  const rows = db.prepare('SELECT ip, mac, state FROM dhcp_leases').all();
  t.deepEqual(rows.map((r) => ({ ...r })), [{ ip: '127.88.0.10', mac: '52:54:00:12:34:56', state: 'bound' }]);
});

test('mode off binds nothing; a port in use fails start and releases what was bound', async (t) => {
  const off = await startDhcpServer(await testConfig({ mode: 'off' }), { logger: silentLogger });
  await off.stop();
  const config = await testConfig();
  const blocker = createSocket('udp4'); // no reuseAddr: the PXE port is taken
  await new Promise<void>((r) => blocker.bind(config.pxePort, '0.0.0.0', () => r()));
  t.teardown(() => blocker.close());
  await t.throwsAsync(startDhcpServer(config, { logger: silentLogger }), { code: 'EADDRINUSE' });
  t.true(await canBindExclusively(config.port), 'the DHCP port bound before the failure was released');
});

test('network filter: relay, source and ciaddr must be served; interface networks from the OS', (t) => {
  const packet = (giaddr: string, ciaddr: string) => {
    const r = parseDhcp(fixture('full/017-discover-68to67.hex'));
    if (!r.ok) throw new Error(r.reason);
    return { ...r.packet, giaddr, ciaddr };
  };
  t.deepEqual(networkHints(packet('0.0.0.0', '0.0.0.0'), '0.0.0.0'), []);
  t.deepEqual(networkHints(packet('10.1.0.1', '10.1.0.9'), '192.168.0.1'), ['10.1.0.1', '10.1.0.9']);
  t.deepEqual(networkHints(packet('0.0.0.0', '0.0.0.0'), '10.1.0.7'), ['10.1.0.7']);
  const filter = makeNetworkFilter(() => [parseCidr('10.1.0.0/24')!]);
  t.true(filter(packet('0.0.0.0', '0.0.0.0'), '0.0.0.0').ok, 'fresh broadcast cannot be placed: accepted');
  t.true(filter(packet('10.1.0.1', '0.0.0.0'), '172.16.0.1').ok, 'relayed from a served network');
  t.false(filter(packet('10.2.0.1', '0.0.0.0'), '10.1.0.1').ok, 'relayed from elsewhere');
  t.false(filter(packet('0.0.0.0', '8.8.8.8'), '10.1.0.7').ok, 'ciaddr elsewhere: a reply would leave the network');
  const lo = interfaceNetworks('lo');
  t.true(lo.some((n) => n.base === 0x7f000000 && n.mask === 0xff000000), 'lo has 127.0.0.0/8');
  t.deepEqual(interfaceNetworks('ni-no-such-if'), []);
});
