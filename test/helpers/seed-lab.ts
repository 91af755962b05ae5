// A room for seeding tests and the seeding bench: one namespace with a bridge and the server's
// address (.1), and one namespace per receiving PC, linked to the bridge by a veth (so one PC can
// get netem loss on its port, or a firewall of its own). Processes run inside with `ip netns exec`
// (Node cannot enter a namespace), print JSON lines, and are killed by PID on destroy.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { repoRoot } from '../../lib/paths.ts';

export interface NodeProcess {
  readonly child: ChildProcess;
  /** Every JSON line printed so far. */
  readonly events: Record<string, unknown>[];
  /** The first event matching pred, waiting up to deadlineMs. */
  until(pred: (e: Record<string, unknown>) => boolean, deadlineMs?: number): Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
}

export interface SeedLab {
  readonly serverNs: string;
  readonly serverIp: string;
  readonly pcs: { ns: string; ip: string; /** The PC's port on the bridge (in serverNs): shape its traffic here. */ port: string }[];
  /** Run a command in a namespace to completion. */
  exec(ns: string, cmd: string, ...args: string[]): string;
  /** Start `node <script> …args` (relative to the repository) in a namespace. */
  node(ns: string, script: string, args: readonly string[]): NodeProcess;
  destroy(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/** `pcs` receivers on 10.229.<net>.0/24 (server .1, PC i at .10+i). */
export function createSeedLab(pcs: number, net: number): SeedLab {
  const tag = `${process.pid.toString(36)}${net}`;
  const serverNs = `h29s-${tag}`;
  const names = [serverNs, ...Array.from({ length: pcs }, (_, i) => `h29r${i}-${tag}`)];
  const children = new Set<ChildProcess>();
  const destroy = () => {
    for (const c of children) {
      try {
        if (c.exitCode === null && c.signalCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const ns of names) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not made, or gone
      }
    }
  };
  const base = `10.229.${net}`;
  try {
    for (const ns of names) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    ip('-n', serverNs, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0');
    // `brd +`: a broadcast address as DHCP gives a real NIC. Without one, udp-receiver (udpcast
    // 20120424) sends its connect request to 0.0.0.0, i.e. to itself, and waits for ever (bench).
    ip('-n', serverNs, 'addr', 'add', `${base}.1/24`, 'brd', '+', 'dev', 'br0');
    ip('-n', serverNs, 'link', 'set', 'br0', 'up');
    const list = names.slice(1).map((ns, i) => {
      const port = `pc${i}`;
      ip('-n', serverNs, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      ip('-n', serverNs, 'link', 'set', port, 'master', 'br0', 'up');
      ip('-n', ns, 'addr', 'add', `${base}.${10 + i}/24`, 'brd', '+', 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      return { ns, ip: `${base}.${10 + i}`, port };
    });
    return {
      serverNs,
      serverIp: `${base}.1`,
      pcs: list,
      exec: (ns, cmd, ...args) => execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString(),
      node(ns, script, args) {
        const child = spawn('ip', ['netns', 'exec', ns, 'setpriv', '--pdeathsig', 'KILL', '--', process.execPath, script, ...args], {
          cwd: repoRoot,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        children.add(child);
        const events: Record<string, unknown>[] = [];
        const waiters = new Set<() => void>();
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        createInterface({ input: child.stdout! }).on('line', (line) => {
          try {
            events.push(JSON.parse(line) as Record<string, unknown>);
          } catch {
            events.push({ event: 'text', line });
          }
          for (const w of waiters) w();
        });
        const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
        void exited.then(() => [...waiters].forEach((w) => w()));
        return {
          child,
          events,
          exited,
          async until(pred, deadlineMs = 20_000) {
            const end = Date.now() + deadlineMs;
            for (;;) {
              const hit = events.find(pred);
              if (hit) return hit;
              if (child.exitCode !== null || Date.now() > end)
                throw new Error(`${script} ${child.exitCode !== null ? `exited (${child.exitCode})` : `no such event within ${deadlineMs} ms`}; events ${JSON.stringify(events.slice(-5))}; stderr ${stderr.slice(-500)}`);
              await new Promise<void>((resolve) => {
                const t = setTimeout(done, Math.max(1, end - Date.now()));
                function done() {
                  clearTimeout(t);
                  waiters.delete(done);
                  resolve();
                }
                waiters.add(done);
              });
            }
          },
        };
      },
      destroy,
    };
  } catch (error) {
    destroy();
    throw error;
  }
}
