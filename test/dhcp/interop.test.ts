// Real clients against the real server process, inside network namespaces: busybox udhcpc, ISC
// dhclient and Kea's perfdhcp.
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { DatabaseSync } from 'node:sqlite';
import { hostname as osHostname } from 'node:os';
import { promisify } from 'node:util';
import { ipToNumber } from '../../bootserver/dhcp/codec.ts';
import { logEntries, makeTestNet, sh, startStandalone } from './helpers.ts';

const execFileAsync = promisify(execFile);

/** Run a command in a namespace; resolves with exit code and both streams, never rejects on exit code. */
async function inNs(ns: string, args: string[], timeoutMs = 20_000): Promise<{ code: number; out: string }> {
  try {
    const r = await execFileAsync('ip', ['netns', 'exec', ns, ...args], { timeout: timeoutMs, encoding: 'utf8' });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

/** dhclient -d stays in the foreground after binding: run it until it reports the lease, then stop it. */
function untilBound(ns: string, args: string[], timeoutMs = 20_000): Promise<{ out: string }> {
  return new Promise((resolve) => {
    // `ip netns exec` execs the command, so child.pid is dhclient's own pid.
    const child = spawn('ip', ['netns', 'exec', ns, ...args]);
    let out = '';
    const finish = () => {
      clearTimeout(timer);
      child.kill('SIGTERM');
      resolve({ out });
    };
    const timer = setTimeout(finish, timeoutMs);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/bound to /.test(out)) finish();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', finish);
  });
}

const inPool = (ip: string, start: string, end: string) => {
  const n = ipToNumber(ip)!;
  return n >= ipToNumber(start)! && n <= ipToNumber(end)!;
};

/** perfdhcp's "received packets" per exchange, in report order (DISCOVER-OFFER, REQUEST-ACK). */
function perfdhcpReceived(out: string): number[] {
  return [...out.matchAll(/received packets: (\d+)/g)].map((m) => Number(m[1]));
}

test('full mode: udhcpc and dhclient get leases from the pool, and the leases are in the store', async (t) => {
  const net = makeTestNet('full', 93);
  t.teardown(net.cleanup);
  const range = { rangeStart: '10.93.1.10', rangeEnd: '10.93.1.60' };
  const server = await startStandalone(
    net.serverNs,
    { mode: 'full', serverIp: net.serverIp, full: { ...range, subnetMask: '255.255.0.0', router: net.serverIp, dns: [net.serverIp] } },
    { leaseDb: true },
  );
  t.teardown(server.dispose);

  sh(['ip', '-n', net.clientNs, 'link', 'set', 'vc', 'address', '02:00:00:93:00:01']);
  const udhcpc = await inNs(net.clientNs, ['busybox', 'udhcpc', '-i', 'vc', '-n', '-q', '-f', '-t', '4', '-T', '1', '-s', '/bin/true', '-x', 'hostname:interop-udhcpc']);
  t.is(udhcpc.code, 0, udhcpc.out);
  const udhcpcIp = /lease of ([\d.]+) obtained/.exec(udhcpc.out)?.[1];
  t.truthy(udhcpcIp, udhcpc.out);

  sh(['ip', '-n', net.clientNs, 'link', 'set', 'vc', 'address', '02:00:00:93:00:02']);
  const lf = `/tmp/ni-dhclient-${process.pid}.leases`;
  t.teardown(() => sh(['rm', '-f', lf, `${lf}.pid`]));
  const dhclient = await untilBound(net.clientNs, ['dhclient', '-4', '-1', '-d', '-v', '-lf', lf, '-pf', `${lf}.pid`, '-sf', '/bin/true', 'vc']);
  const dhclientIp = /DHCPACK of ([\d.]+) from/.exec(dhclient.out)?.[1];
  t.truthy(dhclientIp, dhclient.out);

  for (const ip of [udhcpcIp!, dhclientIp!]) t.true(inPool(ip, range.rangeStart, range.rangeEnd), `${ip} in pool`);
  t.not(udhcpcIp, dhclientIp);

  await server.stop();
  const db = new DatabaseSync(server.leaseDb!);
  const rows = db.prepare('SELECT ip, mac, hostname, state FROM dhcp_leases ORDER BY mac').all();
  db.close();
  t.deepEqual(
    rows.map((r) => ({ ...r })),
    [
      { ip: udhcpcIp, mac: '02:00:00:93:00:01', hostname: 'interop-udhcpc', state: 'bound' },
      // dhclient sends the system host name (a netns shares the host's UTS namespace).
      { ip: dhclientIp, mac: '02:00:00:93:00:02', hostname: osHostname(), state: 'bound' },
    ],
  );
});

test('proxy mode: a plain client gets nothing, a PXE-posing udhcpc never gets an address', async (t) => {
  const net = makeTestNet('proxy', 94);
  t.teardown(net.cleanup);
  const server = await startStandalone(net.serverNs, { mode: 'proxy', serverIp: net.serverIp });
  t.teardown(server.dispose);

  const plain = await inNs(net.clientNs, ['busybox', 'udhcpc', '-i', 'vc', '-n', '-q', '-f', '-t', '2', '-T', '1', '-s', '/bin/true']);
  t.not(plain.code, 0, 'no lease for a non-PXE client');
  t.notRegex(plain.out, /obtained/);
  // Posing as PXE firmware: udhcpc takes our proxy answers at face value and "obtains" 0.0.0.0,
  // which shows the answers carried no address.
  const pxe = await inNs(net.clientNs, [
    'busybox', 'udhcpc', '-i', 'vc', '-n', '-q', '-f', '-t', '2', '-T', '1', '-s', '/bin/true',
    '-V', 'PXEClient:Arch:00007:UNDI:003000', '-x', '0x5d:0007',
  ]);
  t.regex(pxe.out, /select for 0\.0\.0\.0, server 10\.94\.0\.1/, pxe.out);
  t.notRegex(pxe.out, /lease of (?!0\.0\.0\.0 )/, pxe.out);

  const logs = logEntries(server);
  const ignored = logs.filter((l) => l['msg'] === 'no answer');
  t.true(ignored.some((l) => /not a PXE\/HTTP boot client/.test(String(l['why']))));
  const answers = logs.filter((l) => l['level'] === 30 && 'reply' in l);
  t.true(answers.length >= 1, 'the PXE-posing client was answered');
  for (const a of answers) {
    t.is(a['yiaddr'], '0.0.0.0');
    t.is(a['file'], 'shimx64.efi');
  }
});

test('perfdhcp runs against full and proxy mode', async (t) => {
  const net = makeTestNet('perf', 95);
  t.teardown(net.cleanup);
  // perfdhcp acts as a relay agent: it needs an address and sends from port 67.
  sh(['ip', '-n', net.clientNs, 'addr', 'add', '10.95.0.2/16', 'dev', 'vc']);

  const full = await startStandalone(
    net.serverNs,
    { mode: 'full', serverIp: net.serverIp, full: { rangeStart: '10.95.1.0', rangeEnd: '10.95.200.255', subnetMask: '255.255.0.0' } },
    { leaseDb: true, level: 'warn' },
  );
  t.teardown(full.dispose);
  const fullRun = await inNs(net.clientNs, ['perfdhcp', '-4', '-l', 'vc', '-r', '200', '-p', '3', '-R', '5000', net.serverIp]);
  await full.stop();
  const [fullOffers = 0, fullAcks = 0] = perfdhcpReceived(fullRun.out);
  t.true(fullOffers >= 400 && fullAcks >= 400, `full: offers ${fullOffers}, acks ${fullAcks}\n${fullRun.out}`);
  const db = new DatabaseSync(full.leaseDb!);
  const leases = (db.prepare('SELECT count(*) AS n FROM dhcp_leases').get() as { n: number }).n;
  db.close();
  t.true(leases >= fullAcks * 0.9, `leases ${leases} vs acks ${fullAcks}`);

  const proxy = await startStandalone(net.serverNs, { mode: 'proxy', serverIp: net.serverIp }, { level: 'info' });
  t.teardown(proxy.dispose);
  // Posing as OVMF: option 60 "PXEClient:Arch:00007:UNDI:003000", option 93 = 7.
  const pxeOptions = ['-o', '60,505845436c69656e743a417263683a30303030373a554e44493a303033303030', '-o', '93,0007'];
  const proxyRun = await inNs(net.clientNs, ['perfdhcp', '-4', '-l', 'vc', '-r', '200', '-p', '3', '-R', '5000', ...pxeOptions, net.serverIp]);
  const [proxyOffers = 0] = perfdhcpReceived(proxyRun.out);
  t.true(proxyOffers >= 400, `proxy: offers ${proxyOffers}\n${proxyRun.out}`);
  // Without the PXE options nothing is answered.
  const plainRun = await inNs(net.clientNs, ['perfdhcp', '-4', '-l', 'vc', '-r', '50', '-p', '2', '-R', '100', net.serverIp]);
  t.is(perfdhcpReceived(plainRun.out)[0], 0, plainRun.out);
  await proxy.stop();
  const replies = logEntries(proxy).filter((l) => 'reply' in l);
  t.true(replies.length >= proxyOffers);
  t.true(replies.every((r) => r['yiaddr'] === '0.0.0.0'), 'proxy mode never assigns an address');
});
