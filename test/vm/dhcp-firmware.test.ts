// Real firmware accepts our answers: QEMU (TCG) boots from the network in a namespace and we watch
// for its TFTP read request for the boot file we handed out. OVMF in proxy mode beside busybox
// udhcpd (the "site" DHCP server), iPXE BIOS in full mode. No TFTP server is needed: the request
// itself proves the firmware took the DHCP answer.
import test, { type ExecutionContext } from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sh, startStandalone } from '../dhcp/helpers.ts';
import type { DhcpConfigInput } from '../../bootserver/dhcp/config.ts';

interface Lab {
  ns: string;
  serverIp: string;
  dir: string;
}

function makeLab(t: ExecutionContext, tag: string, octet: number): Lab {
  const ns = `ni-dhfw-${tag}-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), `ni-dhfw-${tag}-`));
  t.teardown(() => {
    try {
      sh(['ip', 'netns', 'del', ns]);
    } catch {
      /* gone */
    }
    rmSync(dir, { recursive: true, force: true });
  });
  sh(['ip', 'netns', 'add', ns]);
  sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  sh(['ip', '-n', ns, 'link', 'add', 'br0', 'type', 'bridge']);
  sh(['ip', '-n', ns, 'addr', 'add', `10.${octet}.0.1/24`, 'dev', 'br0']);
  sh(['ip', '-n', ns, 'link', 'set', 'br0', 'up']);
  sh(['ip', '-n', ns, 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
  sh(['ip', '-n', ns, 'link', 'set', 'tap0', 'master', 'br0', 'up']);
  return { ns, serverIp: `10.${octet}.0.1`, dir };
}

/** Start a process in the namespace, killed (by its pid) at teardown. */
function spawnIn(t: ExecutionContext, ns: string, args: string[]): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return child;
}

/**
 * Resolves with the first TFTP RRQ file name seen on br0 (tcpdump), or undefined after ms; the
 * DHCP traffic seen is logged when it times out.
 */
function watchTftp(t: ExecutionContext, ns: string, ms: number): Promise<{ file: string; line: string } | undefined> {
  const dump = spawnIn(t, ns, ['tcpdump', '-l', '-n', '-v', '-i', 'br0', 'udp port 69 or udp port 67 or udp port 68 or udp port 4011']);
  return new Promise((resolve) => {
    let out = '';
    const timer = setTimeout(() => {
      t.log(out.split('\n').filter((l) => /^\d/.test(l)).join('\n'));
      resolve(undefined);
    }, ms);
    dump.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^.*RRQ "([^"]+)".*$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ file: m[1]!, line: m[0] });
      }
    });
  });
}

async function dhcpServer(t: ExecutionContext, lab: Lab, config: Omit<DhcpConfigInput, 'serverIp'>) {
  const server = await startStandalone(lab.ns, { ...config, serverIp: lab.serverIp, subnet: `${lab.serverIp.replace(/\.1$/, '.0')}/24` }, { level: 'info' });
  t.teardown(server.dispose);
  return server;
}

function startOvmf(t: ExecutionContext, lab: Lab, mac: string): void {
  const vars = join(lab.dir, 'vars.fd');
  copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
  spawnIn(t, lab.ns, [
    'qemu-system-x86_64', '-accel', 'tcg', '-machine', 'q35', '-m', '256', '-display', 'none', '-serial', 'null', '-monitor', 'none',
    '-drive', 'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd', '-drive', `if=pflash,format=raw,file=${vars}`,
    '-smbios', 'type=1,uuid=8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
    '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no', '-device', `virtio-net-pci,netdev=n0,romfile=,mac=${mac}`,
  ]);
}

test('OVMF PXE boots from our proxyDHCP answer beside a plain DHCP server', async (t) => {
  t.timeout(120_000);
  const lab = makeLab(t, 'ovmf', 86);
  // The site's DHCP server: addresses only, knows nothing about PXE.
  const conf = join(lab.dir, 'udhcpd.conf');
  writeFileSync(join(lab.dir, 'leases'), '');
  writeFileSync(conf, `start 10.86.0.100\nend 10.86.0.200\ninterface br0\nlease_file ${join(lab.dir, 'leases')}\noption subnet 255.255.255.0\noption lease 600\n`);
  spawnIn(t, lab.ns, ['busybox', 'udhcpd', '-f', conf]);
  const server = await dhcpServer(t, lab, { mode: 'proxy' });
  const rrq = watchTftp(t, lab.ns, 90_000);
  await new Promise((r) => setTimeout(r, 300)); // tcpdump attaches
  startOvmf(t, lab, '52:54:00:86:00:01');
  const seen = await rrq;
  t.truthy(seen, 'OVMF sent a TFTP read request');
  t.is(seen?.file, 'shimx64.efi');
  t.regex(seen?.line ?? '', /> 10\.86\.0\.1\.69:/, 'to our server address');
  const answers = server.lines.filter((l) => l.includes('"reply"'));
  t.true(answers.every((l) => l.includes('"yiaddr":"0.0.0.0"')), 'proxy answers carry no address');
});

test('iPXE BIOS boots from our full-mode answer (address and boot file)', async (t) => {
  t.timeout(120_000);
  const lab = makeLab(t, 'ipxe', 87);
  const server = await dhcpServer(t, lab, {
    mode: 'full',
    full: { rangeStart: '10.87.0.100', rangeEnd: '10.87.0.120', subnetMask: '255.255.255.0', router: lab.serverIp },
  });
  // iPXE waits (~15 s here) for an IPv6 router advertisement before it finishes configuring; a
  // RA-only dnsmasq (no DHCPv4) ends that wait, as on a real network with IPv6 routers.
  sh(['ip', '-n', lab.ns, '-6', 'addr', 'add', 'fd4e:494d:87::1/64', 'dev', 'br0', 'nodad']);
  spawnIn(t, lab.ns, ['dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', '--pid-file=', '--user=root',
    '--interface=br0', '--bind-interfaces', '--enable-ra', '--dhcp-range=fd4e:494d:87::,ra-only,64', '--dhcp-leasefile=/dev/null', '--log-facility=/dev/null']);
  const rrq = watchTftp(t, lab.ns, 90_000);
  await new Promise((r) => setTimeout(r, 300));
  const sercon = join(lab.dir, 'sercon');
  writeFileSync(sercon, Buffer.from([0xf8, 0x03]));
  spawnIn(t, lab.ns, [
    'qemu-system-x86_64', '-accel', 'tcg', '-m', '256', '-display', 'none', '-serial', `file:${join(lab.dir, 'serial.log')}`, '-monitor', 'none', '-boot', 'n',
    '-fw_cfg', `name=etc/sercon-port,file=${sercon}`,
    '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no', '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:87:00:01',
  ]);
  const seen = await rrq;
  if (!seen) t.log(readFileSync(join(lab.dir, 'serial.log'), 'latin1').replace(/\x1b\[[0-9;]*[A-Za-z]/g, ''));
  t.truthy(seen, 'iPXE sent a TFTP read request');
  t.is(seen?.file, 'grub/i386-pc/core.0');
  t.regex(seen?.line ?? '', /10\.87\.0\.1\d\d\.\d+ > 10\.87\.0\.1\.69:/, 'from a pool address to our server');
  t.true(server.lines.some((l) => l.includes('"reply":"ack"') && l.includes('"yiaddr":"10.87.0.1')));
});

test('OVMF PXE boots from our full-mode answer', async (t) => {
  t.timeout(120_000);
  const lab = makeLab(t, 'ovmff', 85);
  const server = await dhcpServer(t, lab, {
    mode: 'full',
    full: { rangeStart: '10.85.0.100', rangeEnd: '10.85.0.120', subnetMask: '255.255.255.0' },
  });
  const rrq = watchTftp(t, lab.ns, 90_000);
  await new Promise((r) => setTimeout(r, 300));
  startOvmf(t, lab, '52:54:00:85:00:01');
  const seen = await rrq;
  t.is(seen?.file, 'shimx64.efi');
  t.regex(seen?.line ?? '', /10\.85\.0\.1\d\d\.\d+ > 10\.85\.0\.1\.69:/, 'from a pool address to our server');
  t.true(server.lines.some((l) => l.includes('"reply":"ack"') && l.includes('"file":"shimx64.efi"')));
});
