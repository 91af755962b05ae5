// Load simulator: N simulated PCs booting at once against our server and against a reference
// chain (dnsmasq proxyDHCP + tftp-hpa + python3 http.server), same transfer pattern, same run.
//
//   node bench/load.ts [--pcs 30,100,500] [--progress 5] [--kernel-kib 1024] [--stage1-kib 1024]
//                      [--stage2-kib 4096] [--sides ours,reference] [--client-procs 2]
//
// Each PC: a PXE boot-server REQUEST to port 4011 (proxyDHCP; unicast, as UEFI sends it once it
// has an address), TFTP of its Grub config (ours: the per-client config, which creates the job
// attempt and its token; reference: a static file per PC), TFTP of the kernel and stage 1 in
// lock-step with grub's options (blksize 1024, tsize; grub-core/net/tftp.c), HTTP GET of stage 2,
// then the agent's calls: job fetch, progress every second `--progress` times, result (ours: the
// real agent API with a real pending hwinvent job; reference: GETs of static files, as
// python's http.server has no POST). Files are smaller than the real boot image (defaults 1 MiB
// kernel, 1 MiB stage 1, 4 MiB stage 2) to keep a 500-PC run short; the pattern is the same.
//
// Everything runs in one lab network namespace (vm-harness/netns.ts; the PCs are client sockets
// on its bridge address, `--client-procs` Node processes). Server CPU is a cpuacct group's usage
// over the run (the server and every process it forks), RSS the peak over its process tree.
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { BOOTREQUEST, encode, MessageType, Opt, parseDhcp, serializeDhcp } from '../bootserver/dhcp/codec.ts';
import { execa, run, splitLines } from '../lib/process.ts';

const { values } = parseArgs({
  options: {
    pcs: { type: 'string', default: '30,100,500' },
    progress: { type: 'string', default: '5' },
    'kernel-kib': { type: 'string', default: '1024' },
    'stage1-kib': { type: 'string', default: '1024' },
    'stage2-kib': { type: 'string', default: '4096' },
    sides: { type: 'string', default: 'ours,reference' },
    'client-procs': { type: 'string', default: '2' },
    client: { type: 'string' },
  },
});

// ------------------------------------------------------------------------------------------
// Client side (runs inside the lab: `--client <json>`)

interface ClientJob {
  side: 'ours' | 'reference';
  serverIp: string;
  httpBase: string;
  agentBase: string | null;
  configPath: (pc: number) => string;
  pcs: number[];
  progress: number;
}

interface PcResult {
  pc: number;
  ok: boolean;
  error?: string;
  dhcpMs: number;
  configMs: number;
  tftpMs: number;
  httpMs: number;
  agentMs: number[];
  tftpRetries: number;
  timeouts: number;
  totalMs: number;
}

function macOf(pc: number): string {
  return `02:4c:${((pc >> 16) & 255).toString(16).padStart(2, '0')}:${((pc >> 8) & 255).toString(16).padStart(2, '0')}:${(pc & 255).toString(16).padStart(2, '0')}:01`;
}
function uuidOf(pc: number): string {
  return `4c4f4144-0000-4000-8000-${pc.toString(16).padStart(12, '0')}`;
}

/** Lock-step TFTP read like grub's: RRQ with blksize 1024 and tsize, ACK each block. */
async function tftpGet(serverIp: string, name: string, counters: { retries: number }): Promise<Buffer> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, r));
  try {
    const rrq = Buffer.concat([Buffer.from([0, 1]), Buffer.from(`${name}\0octet\0blksize\x001024\0tsize\x000\0`, 'latin1')]);
    const chunks: Buffer[] = [];
    let expected = 1;
    let tid = 0;
    let blksize = 512;
    let last: { buf: Buffer; port: number } = { buf: rrq, port: 69 };
    return await new Promise<Buffer>((resolve, reject) => {
      let tries = 0;
      let timer: NodeJS.Timeout;
      // grub's schedule (include/grub/net.h): GRUB_NET_TRIES 40 polls of GRUB_NET_INTERVAL 400 ms
      // + 20 ms per try (~32 s in all) before the transfer fails.
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          if (++tries >= 40) return reject(new Error(`tftp ${name}: timed out at block ${expected}`));
          counters.retries++;
          s.send(last.buf, last.port, serverIp);
          arm();
        }, 400 + 20 * tries);
      };
      const send = (buf: Buffer, port: number) => {
        last = { buf, port };
        tries = 0;
        s.send(buf, port, serverIp);
        arm();
      };
      s.on('message', (m, r) => {
        if (tid && r.port !== tid) return;
        const op = m.readUInt16BE(0);
        if (op === 5) {
          clearTimeout(timer);
          return reject(new Error(`tftp ${name}: error ${m.readUInt16BE(2)} ${m.subarray(4, m.length - 1).toString()}`));
        }
        tid = r.port;
        if (op === 6) {
          const parts = m.subarray(2).toString('latin1').split('\0');
          const i = parts.indexOf('blksize');
          if (i >= 0) blksize = Number(parts[i + 1]);
          return send(Buffer.from([0, 4, 0, 0]), tid);
        }
        if (op !== 3) return;
        const block = m.readUInt16BE(2);
        if (block === (expected & 0xffff)) {
          chunks.push(Buffer.from(m.subarray(4)));
          expected++;
        }
        const ack = Buffer.from([0, 4, m[2]!, m[3]!]);
        if (m.length - 4 < blksize && block === ((expected - 1) & 0xffff)) {
          clearTimeout(timer);
          s.send(ack, tid, serverIp);
          return resolve(Buffer.concat(chunks));
        }
        send(ack, tid);
      });
      send(rrq, 69);
    });
  } finally {
    setTimeout(() => s.close(), 50);
  }
}

/** The PXE boot-server REQUEST (port 4011) a UEFI client sends after a proxyDHCP OFFER. */
async function pxeRequest(serverIp: string, pc: number, counters: { retries: number }): Promise<void> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, r));
  const chaddr = Buffer.alloc(16);
  Buffer.from(macOf(pc).replace(/:/g, ''), 'hex').copy(chaddr);
  const guid = Buffer.concat([Buffer.from([0]), Buffer.from(uuidOf(pc).replace(/-/g, ''), 'hex')]);
  const packet = serializeDhcp({
    op: BOOTREQUEST, htype: 1, hlen: 6, hops: 0, xid: (pc * 2654435761) >>> 0, secs: 0, flags: 0,
    ciaddr: serverIp.replace(/\.\d+$/, '.200'), yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr, sname: '', file: '',
    options: new Map([
      [Opt.messageType, encode.u8(MessageType.request)],
      [Opt.vendorClass, encode.text('PXEClient:Arch:00007:UNDI:003000')],
      [93, encode.u16(7)],
      [97, guid],
    ]),
    dhcp: true,
  });
  try {
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt) counters.retries++;
      const reply = new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 2000 * (attempt + 1));
        s.on('message', (m) => {
          const p = parseDhcp(m);
          if (p.ok && p.packet.xid === ((pc * 2654435761) >>> 0)) {
            clearTimeout(t);
            resolve(true);
          }
        });
      });
      s.send(packet, 4011, serverIp);
      if (await reply) return;
      s.removeAllListeners('message');
    }
    throw new Error('pxe request: no answer');
  } finally {
    s.close();
  }
}

/** One shared :68 socket per client process; OFFERs are told apart by xid. */
let dhcpSocket: dgram.Socket | null = null;
const offerWaiters = new Map<number, () => void>();
async function dhcpClientSocket(): Promise<dgram.Socket> {
  if (dhcpSocket) return dhcpSocket;
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  await new Promise<void>((r) => s.bind(68, '0.0.0.0', r));
  s.setBroadcast(true);
  s.on('message', (m) => {
    const p = parseDhcp(m);
    if (p.ok && p.packet.op === 2) offerWaiters.get(p.packet.xid)?.();
  });
  dhcpSocket = s;
  return s;
}

/** A UEFI PXE DISCOVER, broadcast; resolves on the proxyDHCP OFFER (the one with PXEClient). */
async function pxeDiscover(pc: number, counters: { retries: number }): Promise<void> {
  const s = await dhcpClientSocket();
  const xid = (pc * 40503 + 7) >>> 0;
  const chaddr = Buffer.alloc(16);
  Buffer.from(macOf(pc).replace(/:/g, ''), 'hex').copy(chaddr);
  const guid = Buffer.concat([Buffer.from([0]), Buffer.from(uuidOf(pc).replace(/-/g, ''), 'hex')]);
  const packet = serializeDhcp({
    op: BOOTREQUEST, htype: 1, hlen: 6, hops: 0, xid, secs: 4, flags: 0x8000,
    ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr, sname: '', file: '',
    options: new Map([
      [Opt.messageType, encode.u8(MessageType.discover)],
      [Opt.vendorClass, encode.text('PXEClient:Arch:00007:UNDI:003000')],
      [93, encode.u16(7)],
      [94, Buffer.from([1, 3, 0])],
      [97, guid],
    ]),
    dhcp: true,
  });
  try {
    // UEFI's DISCOVER schedule: 4, 8, 16, 32 s.
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt) counters.retries++;
      const got = new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 4000 * 2 ** attempt);
        offerWaiters.set(xid, () => {
          clearTimeout(t);
          resolve(true);
        });
      });
      s.send(packet, 67, '255.255.255.255');
      if (await got) return;
    }
    throw new Error('pxe discover: no offer');
  } finally {
    offerWaiters.delete(xid);
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const v = await fn();
  return [v, performance.now() - t0];
}

async function httpCall(url: string, init: RequestInit, counters: { timeouts: number }): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
      if (r.status >= 500 && attempt < 3) {
        counters.timeouts++;
        continue;
      }
      return r;
    } catch (error) {
      counters.timeouts++;
      if (attempt >= 3) throw error;
    }
  }
}

async function runPc(job: ClientJob & { configPaths: Record<number, string> }, pc: number): Promise<PcResult> {
  const t0 = performance.now();
  const c = { retries: 0, timeouts: 0 };
  const res: PcResult = { pc, ok: false, dhcpMs: 0, configMs: 0, tftpMs: 0, httpMs: 0, agentMs: [], tftpRetries: 0, timeouts: 0, totalMs: 0 };
  try {
    // proxyDHCP: the DISCOVER (both sides), then the boot-server REQUEST to port 4011 (ours only:
    // dnsmasq answers 4011 only for a PXE boot menu item, which this firmware does not send).
    [, res.dhcpMs] = await timed(async () => {
      await pxeDiscover(pc, c);
      if (job.side === 'ours') await pxeRequest(job.serverIp, pc, c);
    });
    const [cfg, cfgMs] = await timed(() => tftpGet(job.serverIp, job.configPaths[pc]!, c));
    res.configMs = cfgMs;
    const text = cfg.toString('utf8');
    const token = /netimage\.token=([0-9a-f]+)/.exec(text)?.[1];
    if (job.side === 'ours' && !token) throw new Error(`no job in the config: ${text.slice(0, 200)}`);
    [, res.tftpMs] = await timed(async () => {
      await tftpGet(job.serverIp, 'netimage/kernel', c);
      await tftpGet(job.serverIp, 'netimage/stage1', c);
    });
    [, res.httpMs] = await timed(async () => {
      const r = await httpCall(`${job.httpBase}/netimage/stage2`, {}, c);
      if (!r.ok) throw new Error(`stage 2: HTTP ${r.status}`);
      await r.arrayBuffer();
    });
    const headers = { authorization: `Bearer ${token ?? 'none'}`, 'content-type': 'application/json' };
    const agent = async (method: string, path: string, body?: unknown) => {
      const [r, ms] = await timed(async () => {
        const url = job.agentBase ? `${job.agentBase}${path}` : `${job.httpBase}/agent${path.replace(/\//g, '_')}.json`;
        const r = await httpCall(url, job.agentBase ? { method, headers, ...(body ? { body: JSON.stringify(body) } : {}) } : {}, c);
        await r.arrayBuffer();
        return r;
      });
      res.agentMs.push(ms);
      if (!r.ok) throw new Error(`${method} ${path}: HTTP ${r.status}`);
    };
    await agent('GET', '/job');
    for (let i = 0; i < job.progress; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      await agent('POST', '/job/progress', { percent: Math.round(((i + 1) / (job.progress + 1)) * 100), message: `step ${i + 1}` });
    }
    await agent('POST', '/job/result', { result: 'successful' });
    res.ok = true;
  } catch (error) {
    res.error = (error as Error).message;
  }
  res.tftpRetries = c.retries;
  res.timeouts = c.timeouts;
  res.totalMs = performance.now() - t0;
  return res;
}

if (values.client) {
  const job = JSON.parse(await readFile(values.client, 'utf8')) as ClientJob & { configPaths: Record<number, string> };
  const results = await Promise.all(job.pcs.map((pc) => runPc(job, pc)));
  (dhcpSocket as dgram.Socket | null)?.close();
  for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(0);
}

// ------------------------------------------------------------------------------------------
// Host side

const { createLab } = await import('../vm-harness/netns.ts');
const { startLabServer } = await import('../vm-harness/lab-server.ts');
const { cpuGroup } = await import('./cpu-group.ts');

const pcsList = values.pcs.split(',').map(Number);
const progress = Number(values.progress);
const sides = values.sides.split(',') as Array<'ours' | 'reference'>;
const clientProcs = Number(values['client-procs']);
const self = fileURLToPath(import.meta.url);

const work = mkdtempSync(join(tmpdir(), 'ni-bench-load-'));
const bootRoot = join(work, 'boot');
mkdirSync(join(bootRoot, 'netimage'), { recursive: true });
writeFileSync(join(bootRoot, 'netimage', 'kernel'), randomBytes(Number(values['kernel-kib']) * 1024));
writeFileSync(join(bootRoot, 'netimage', 'stage1'), randomBytes(Number(values['stage1-kib']) * 1024));
writeFileSync(join(bootRoot, 'netimage', 'stage2'), randomBytes(Number(values['stage2-kib']) * 1024));
// The reference's static stand-ins for the config and the agent API.
for (const f of ['_job', '_job_progress', '_job_result']) {
  mkdirSync(join(bootRoot, 'agent'), { recursive: true });
  writeFileSync(join(bootRoot, `agent${f}.json`), JSON.stringify({ ok: true }));
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
}

/** Peak memory (MiB) of a process tree, sampled: the main process's RSS, the tree's PSS. */
function sampleRss(rootPids: () => number[]): { stop(): { main: number; tree: number } } {
  let main = 0;
  let tree = 0;
  // RSS for the main process; PSS for the tree, since forked transfer processes share their
  // pages with the helper (RSS would count libc once per transfer).
  const memOf = async (pid: number, field: 'Rss' | 'Pss'): Promise<number> => {
    try {
      const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(await readFile(`/proc/${pid}/smaps_rollup`, 'utf8'));
      return m ? Number(m[1]) / 1024 : 0;
    } catch {
      return 0;
    }
  };
  const kidsOf = async (pid: number): Promise<number[]> => {
    try {
      return (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    let total = 0;
    const roots = rootPids();
    const queue = [...roots];
    while (queue.length) {
      const pid = queue.shift()!;
      if (pid === roots[0]) main = Math.max(main, await memOf(pid, 'Rss'));
      total += await memOf(pid, 'Pss');
      queue.push(...(await kidsOf(pid)));
    }
    tree = Math.max(tree, total);
    busy = false;
  }, 200);
  return {
    stop() {
      clearInterval(timer);
      return { main, tree };
    },
  };
}

interface SideFigures {
  ok: number;
  failed: number;
  errors: string[];
  cpuCores: number;
  cpuSeconds: number;
  rssMain: number;
  rssTree: number;
  p99ConfigMs: number;
  p99AgentMs: number;
  p99TftpMs: number;
  totalS: number;
  retries: number;
  timeouts: number;
}

async function runSide(side: 'ours' | 'reference', n: number, index: number): Promise<SideFigures> {
  const lab = await createLab({ name: `load${index}`, subnet: `10.88.${53 + (index % 100)}.0/24`, routerAdvertisements: false });
  const group = await cpuGroup(`load-${side}`);
  const pids: number[] = [];
  // The PCs live in a namespace of their own, joined to the lab's bridge by a veth: packets reach
  // the servers on br0 as from real PCs (dnsmasq ignores DHCP that arrives on lo).
  const pcNs = `${lab.netns}-pcs`;
  const [va, vb] = [`nil${index}a`, `nil${index}b`];
  await run('ip', ['netns', 'add', pcNs]);
  lab.defer(() => run('ip', ['netns', 'delete', pcNs]).then(() => undefined, () => undefined));
  await run('ip', ['link', 'add', va, 'type', 'veth', 'peer', 'name', vb]);
  await run('ip', ['link', 'set', va, 'netns', lab.netns]);
  await run('ip', ['link', 'set', vb, 'netns', pcNs]);
  await run('ip', ['-n', lab.netns, 'link', 'set', va, 'master', 'br0', 'up']);
  await run('ip', ['-n', pcNs, 'addr', 'add', `${lab.address(2)}/24`, 'dev', vb]);
  await run('ip', ['-n', pcNs, 'link', 'set', vb, 'up']);
  await run('ip', ['-n', pcNs, 'link', 'set', 'lo', 'up']);
  // Where 255.255.255.255 goes from the PCs.
  await run('ip', ['-n', pcNs, 'route', 'add', 'default', 'dev', vb]);
  try {
    const configPaths: Record<number, string> = {};
    for (let pc = 1; pc <= n; pc++) configPaths[pc] = `grub/client/efi/mac-${macOf(pc)}/uuid-${uuidOf(pc)}.cfg`;
    let httpBase: string;
    let agentBase: string | null;
    if (side === 'ours') {
      const server = await startLabServer(lab, { dhcpMode: 'proxy', bootRoot, logLevel: 'warn' });
      pids.push(server.pid);
      for (let pc = 1; pc <= n; pc++) {
        await server.call('POST', '/clients', { id: `pc${pc}`, mac: macOf(pc), uuid: uuidOf(pc) });
        await server.call('PUT', `/clients/pc${pc}/products/hwinvent/action`, { actionRequest: 'setup', properties: {} });
      }
      httpBase = `${server.url}/boot`;
      agentBase = `${server.url}/agent/v1`;
    } else {
      for (let pc = 1; pc <= n; pc++) {
        mkdirSync(join(bootRoot, 'grub/client/efi', `mac-${macOf(pc)}`), { recursive: true });
        writeFileSync(join(bootRoot, configPaths[pc]!), `linux /netimage/kernel netimage.job=ref${pc} netimage.token=${randomBytes(16).toString('hex')}\ninitrd /netimage/stage1\nboot\n`);
      }
      // Added to the CPU group from here: `ip netns exec` mounts its own /sys without cgroups.
      const dn = ['dnsmasq', '--keep-in-foreground', '--no-daemon', '--port=0', '--log-facility=-', '--interface=br0', '--bind-interfaces',
        `--dhcp-range=${lab.serverIp},proxy`, '--pxe-service=x86-64_EFI,netboot,grubx64.efi', `--dhcp-leasefile=${join(work, 'leases')}`, '--pxe-prompt=boot,0'];
      const tf = ['in.tftpd', '-L', '-a', `${lab.serverIp}:69`, '-s', bootRoot];
      const py = ['python3', '-m', 'http.server', '8080', '--bind', lab.serverIp, '--directory', bootRoot];
      for (const cmd of [dn, tf, py]) {
        const child = lab.spawn(cmd[0]!, cmd.slice(1), { stdout: 'ignore', stderr: 'inherit', reject: false });
        pids.push(child.pid!);
        await group.add(child.pid!);
      }
      await new Promise((r) => setTimeout(r, 1500));
      httpBase = `http://${lab.serverIp}:8080`;
      agentBase = null;
    }
    if (side === 'ours') await group.add(pids[0]!); // the server and the TFTP sender it forked
    const cpu0 = await group.seconds(pids[0]);
    const sampleRoots = () => pids;
    const rss = sampleRss(sampleRoots);
    const per = Math.ceil(n / clientProcs);
    const t0 = performance.now();
    const results: PcResult[] = [];
    await Promise.all(
      Array.from({ length: clientProcs }, async (_, k) => {
        const mine = Array.from({ length: n }, (_, i) => i + 1).slice(k * per, (k + 1) * per);
        if (mine.length === 0) return;
        const jobFile = join(work, `job-${side}-${n}-${k}.json`);
        writeFileSync(jobFile, JSON.stringify({ side, serverIp: lab.serverIp, httpBase, agentBase, pcs: mine, progress, configPaths }));
        const child = execa('ip', ['netns', 'exec', pcNs, process.execPath, self, '--client', jobFile], { stdout: 'pipe', stderr: 'inherit', buffer: false, reject: false });
        for await (const line of splitLines(child.stdout!)) if (line.startsWith('{')) results.push(JSON.parse(line) as PcResult);
        await child;
      }),
    );
    const totalS = (performance.now() - t0) / 1000;
    const peak = rss.stop();
    const cpu1 = await group.seconds(pids[0]);
    const ok = results.filter((r) => r.ok);
    return {
      ok: ok.length,
      failed: n - ok.length,
      errors: [...new Set(results.filter((r) => !r.ok).map((r) => r.error ?? '?'))].slice(0, 3),
      cpuSeconds: cpu1 - cpu0,
      cpuCores: (cpu1 - cpu0) / totalS,
      rssMain: peak.main,
      rssTree: peak.tree,
      p99ConfigMs: percentile(results.map((r) => r.configMs), 0.99),
      p99AgentMs: percentile(results.flatMap((r) => r.agentMs), 0.99),
      p99TftpMs: percentile(results.map((r) => r.tftpMs), 0.99),
      totalS,
      retries: results.reduce((a, r) => a + r.tftpRetries, 0),
      timeouts: results.reduce((a, r) => a + r.timeouts, 0),
    };
  } finally {
    await lab.destroy();
    await group.remove();
  }
}

const rows: Array<{ n: number; side: string; f: SideFigures; load: string }> = [];
let index = 0;
try {
  for (const n of pcsList) {
    for (const side of sides) {
      const load = (await readFile('/proc/loadavg', 'utf8')).split(' ')[0]!;
      const f = await runSide(side, n, index++);
      rows.push({ n, side, f, load });
      process.stderr.write(`load: ${n} PCs ${side}: ${JSON.stringify(f)}\n`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`Load simulator: kernel ${values['kernel-kib']} KiB + stage 1 ${values['stage1-kib']} KiB over TFTP (blksize 1024, lock-step), stage 2 ${values['stage2-kib']} KiB over HTTP, ${progress} progress calls; ${clientProcs} client processes`);
console.log('PCs  side       load  ok/failed  total s  server CPU cores (s)  RSS main / PSS tree MiB  p99 config ms  p99 TFTP ms  p99 agent ms  retries  timeouts');
for (const { n, side, f, load } of rows) {
  console.log(
    `${String(n).padEnd(4)} ${side.padEnd(10)} ${load.padStart(5)}  ${`${f.ok}/${f.failed}`.padStart(9)}  ${f.totalS.toFixed(1).padStart(7)}  ${`${f.cpuCores.toFixed(2)} (${f.cpuSeconds.toFixed(1)})`.padStart(20)}  ${`${f.rssMain.toFixed(0)}/${f.rssTree.toFixed(0)}`.padStart(22)}  ${f.p99ConfigMs.toFixed(0).padStart(13)}  ${f.p99TftpMs.toFixed(0).padStart(11)}  ${f.p99AgentMs.toFixed(0).padStart(12)}  ${String(f.retries).padStart(7)}  ${String(f.timeouts).padStart(8)}${f.errors.length ? `  errors: ${f.errors.join(' | ')}` : ''}`,
  );
}
