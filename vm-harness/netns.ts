// A private network lab for VM tests: one network namespace holding a bridge `br0` (with the
// server/gateway address .1) and one tap per VM. Nothing links it to the host's networks: no veth,
// no route out. Processes that must live in it (dnsmasq, our server, QEMU) are started with
// `ip netns exec` and tracked by PID so teardown can end them.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { execa, run, type RunResult } from '../lib/process.ts';
import type { Options, ResultPromise } from 'execa';
import { onProcessExit, sweepStale } from './cleanup.ts';

export interface LabOptions {
  /** Short name, unique among this process's labs; the namespace is `ni-vm-p<pid>-<name>`. */
  name?: string;
  /** An IPv4 /24 in 10.0.0.0/8, e.g. '10.77.3.0/24'. */
  subnet: string;
  /**
   * Send IPv6 router advertisements (a private fd4e:494d:x:y::/64 on br0, dnsmasq in RA-only mode).
   * Default true: iPXE (the BIOS PXE stack) waits ~13 s for IPv6 autoconfiguration on a segment
   * without a router, and most real networks have one.
   */
  routerAdvertisements?: boolean;
}

export interface Lab {
  readonly netns: string;
  readonly bridge: 'br0';
  /** 10.x.y.1: the bridge address, where servers in the lab listen. */
  readonly serverIp: string;
  readonly prefixLength: 24;
  /** The bridge's private IPv6 address when router advertisements are on. */
  readonly serverIp6: string | undefined;
  /** 10.x.y.<n>. */
  address(n: number): string;
  /** Create a tap inside the lab, enslaved to br0 and up. Returns its name. */
  addTap(name?: string): Promise<string>;
  /** Run a command inside the lab to completion. */
  exec(cmd: string, args: readonly string[], options?: Options): Promise<RunResult>;
  /** Start a long-running command inside the lab; it is killed (by PID) on destroy. */
  spawn(cmd: string, args: readonly string[], options?: Options): ResultPromise;
  /** Register cleanup that runs (last registered first) before the namespace is deleted. */
  defer(fn: () => Promise<void> | void): void;
  /** Kill what was started in the lab, run deferred cleanups, delete the namespace. Safe to call twice. */
  destroy(): Promise<void>;
}

function destroyLabSync(ns: string): void {
  for (const pid of netnsPidsSync(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  try {
    execFileSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
  } catch {
    // gone
  }
}

function netnsPidsSync(ns: string): number[] {
  try {
    return parsePids(execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }));
  } catch {
    return [];
  }
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/** Parse '10.x.y.0/24' (the lab only does /24 inside 10/8). */
export function parseLabSubnet(subnet: string): { base: string } {
  const m = /^10\.(\d{1,3})\.(\d{1,3})\.0\/24$/.exec(subnet);
  if (!m || Number(m[1]) > 255 || Number(m[2]) > 255) {
    throw new Error(`lab subnet must be 10.x.y.0/24, got ${subnet}`);
  }
  return { base: `10.${m[1]}.${m[2]}` };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function killPids(pids: number[], graceMs: number): Promise<void> {
  const alive = pids.filter(isAlive);
  for (const pid of alive) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && alive.some(isAlive)) await new Promise((r) => setTimeout(r, 50));
  for (const pid of alive.filter(isAlive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export async function createLab(options: LabOptions): Promise<Lab> {
  const { base } = parseLabSubnet(options.subnet);
  // The owner PID in the name lets sweepStale() remove namespaces of a SIGKILLed run.
  sweepStale();
  const netns = `ni-vm-p${process.pid}-${options.name ?? randomBytes(3).toString('hex')}`;
  if (netns.length > 60) throw new Error(`lab name too long: ${netns}`);
  const serverIp = `${base}.1`;
  const [, x, y] = base.split('.');
  const prefix6 = `fd4e:494d:${Number(x).toString(16)}:${Number(y).toString(16)}`;
  const withRa = options.routerAdvertisements ?? true;
  const pids = new Set<number>();
  const deferred: (() => Promise<void> | void)[] = [];
  let tapCount = 0;
  let destroyed = false;

  await run('ip', ['netns', 'add', netns]);
  // Synchronous, so it also works from process 'exit' after a crashed test.
  const unregister = onProcessExit(() => destroyLabSync(netns));
  const inNs = (cmd: string, args: readonly string[], o?: Options) => run('ip', ['netns', 'exec', netns, cmd, ...args], o);
  const lab: Lab = {
    netns,
    bridge: 'br0',
    serverIp,
    prefixLength: 24,
    serverIp6: withRa ? `${prefix6}::1` : undefined,
    address: (n) => `${base}.${n}`,
    async addTap(name) {
      const tap = name ?? `tap${tapCount++}`;
      await run('ip', ['-n', netns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
      await run('ip', ['-n', netns, 'link', 'set', tap, 'master', 'br0', 'up']);
      return tap;
    },
    exec: inNs,
    spawn(cmd, args, o = {}) {
      // pdeathsig: the process dies with us even if this test process is SIGKILLed.
      const child = execa('ip', ['netns', 'exec', netns, 'setpriv', '--pdeathsig', 'KILL', '--', cmd, ...args], {
        reject: false,
        ...o,
      } as Options);
      if (child.pid !== undefined) pids.add(child.pid);
      return child;
    },
    defer(fn) {
      deferred.push(fn);
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      for (const fn of deferred.reverse()) {
        try {
          await fn();
        } catch {
          // keep tearing down
        }
      }
      await killPids([...pids], 2000);
      // Anything else that ended up in the namespace (e.g. QEMU started by a caller).
      await killPids(netnsPidsSync(netns), 2000);
      await run('ip', ['netns', 'delete', netns]).catch(() => undefined);
      unregister();
    },
  };
  try {
    await inNs('ip', ['link', 'set', 'lo', 'up']);
    // No STP and no forwarding delay: a fresh tap must pass the VM's first DHCP packet.
    await run('ip', ['-n', netns, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await run('ip', ['-n', netns, 'addr', 'add', `${serverIp}/24`, 'dev', 'br0']);
    await run('ip', ['-n', netns, 'link', 'set', 'br0', 'up']);
    // grub reuses the same TCP source ports every boot; orphaned server sockets must die fast
    // (shared/notes/pxe-chain.md).
    await inNs('sysctl', ['-q', '-w', 'net.ipv4.tcp_orphan_retries=1']);
    if (withRa) await startRouterAdvertisements(lab, prefix6);
  } catch (error) {
    await lab.destroy();
    throw error;
  }
  return lab;
}

async function startRouterAdvertisements(lab: Lab, prefix6: string): Promise<void> {
  await run('ip', ['-n', lab.netns, 'addr', 'add', `${prefix6}::1/64`, 'dev', 'br0', 'nodad']);
  const child = lab.spawn(
    'dnsmasq',
    [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--log-facility=/dev/null',
      '--port=0',
      '--pid-file=',
      '--interface=br0',
      '--bind-interfaces',
      '--enable-ra',
      `--dhcp-range=${prefix6}::,ra-only,64`,
      '--dhcp-leasefile=/dev/null',
    ],
    { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', buffer: false },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  void Promise.resolve(child).then(() => (exited = true));
  // dnsmasq exits within milliseconds on a bad configuration.
  await new Promise((r) => setTimeout(r, 150));
  if (exited) throw new Error(`router advertisement dnsmasq exited: ${stderr.trim()}`);
}
