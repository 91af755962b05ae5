// The two-site scenario of test/bootserver/multi-server.test.ts, run inside the PCs' network
// namespace (Node cannot enter a namespace, so the scenario is this child process): it starts one
// `netimage serve` in each site's namespace on one PostgreSQL store, plays 200 PCs against them
// through the agent API (no VMs), kills one server mid-job by its PID and boots that PC again at
// the other site. It prints what it saw as one JSON line; the test asserts on it.
// Input (environment): H26_STORE_URL, H26_DIR (a temp dir), H26_SITES (JSON [{ns, ip}, {ns, ip}]).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AdminClient } from '../../bootserver/cli/api-client.ts';
import { ProductId } from '../../lib/products.ts';
import { watchStart } from './serve-process.ts';
import { clientConfigPath, parseNetbootConfig } from './server.ts';

const PCS = 200;
const PORT = 8080;
/** Requests in flight at once (per scenario step): a classroom switching on, not a flood. */
const PARALLEL = 16;
const CLI = 'bootserver/cli/main.ts';

interface Site {
  ns: string;
  ip: string;
}
interface Running {
  name: string;
  url: string;
  child: ChildProcess;
  out: string;
}

const sites = JSON.parse(process.env['H26_SITES']!) as Site[];
const storeUrl = process.env['H26_STORE_URL']!;
const dir = process.env['H26_DIR']!;
const children: ChildProcess[] = [];

async function startSite(name: string, site: Site): Promise<Running> {
  await mkdir(join(dir, name), { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    XDG_CONFIG_HOME: join(dir, name, 'config'),
    NETIMAGE_DATA_DIR: join(dir, name, 'data'),
    NETIMAGE_STORE_URL: storeUrl,
    NETIMAGE_SITE_NAME: `site-${name}`,
    NETIMAGE_HTTP_HOST: site.ip,
    NETIMAGE_HTTP_PORT: String(PORT),
    NETIMAGE_TFTP_ENABLED: 'false',
    NETIMAGE_DHCP_MODE: 'off',
    NETIMAGE_LOG_LEVEL: 'warn',
  };
  // `ip netns exec` execs node: the child's PID is the server's. pdeathsig: it ends with us.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'ip', 'netns', 'exec', site.ns, process.execPath, CLI, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const out = await watchStart(child, /site\s+\S+\n/).ready;
  return { name, url: `http://${site.ip}:${PORT}`, child, out };
}

async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function call(url: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': typeof body === 'string' ? 'text/csv' : 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} at ${url}: ${res.status} ${text}`);
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function bootConfig(url: string, mac: string) {
  const res = await fetch(url + clientConfigPath(mac, null));
  const parsed = parseNetbootConfig(await res.text());
  if (res.status !== 200 || !parsed) throw new Error(`no netboot config for ${mac} at ${url}: ${res.status}`);
  return parsed;
}

/** Every job event a server's stream delivers, counted per message. */
function follow(url: string, token: string) {
  const messages = new Map<string, number>();
  const abort = new AbortController();
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const done = new AdminClient(url, token)
    .streamEvents('', (e) => void messages.set((e as { message: string }).message, (messages.get((e as { message: string }).message) ?? 0) + 1), abort.signal, opened)
    .catch(() => undefined);
  return { messages, open, close: () => (abort.abort(), done) };
}

async function until(what: string, done: () => boolean, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!done()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const mac = (i: number) => `52:54:00:26:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
const progressText = (i: number) => `pc${i} reading its disk`;

async function main() {
  const t0 = Date.now();
  // Both at once: the store lock lets exactly one of them make the first admin token.
  const [a, b] = await Promise.all([startSite('a', sites[0]!), startSite('b', sites[1]!)]);
  const token = /\n\s+(ni_[A-Za-z0-9_-]+)\n/.exec(a.out + b.out)?.[1];
  if (!token) throw new Error(`no first admin token from either site:\n${a.out}\n${b.out}`);
  const started = Date.now();

  // The district's PCs, managed once (at A): 200 in one group, one action for all.
  const csv = ['hostname,mac,uuid,group', ...Array.from({ length: PCS }, (_, i) => `pc${i},${mac(i)},,district`)].join('\n');
  await call(a.url, token, 'POST', '/api/v1/clients/import', csv);
  await call(a.url, token, 'POST', '/api/v1/groups/district/action', { productId: ProductId.hwinvent, actionRequest: 'setup' });

  const onA = follow(a.url, token);
  const onB = follow(b.url, token);
  await Promise.all([onA.open, onB.open]);

  // Half the PCs at each site; every tenth also asks the other site at the same moment (a PC on a
  // subnet both answer): still one job and one attempt.
  const siteOf = (i: number) => (i < PCS / 2 ? a : b);
  const other = (s: Running) => (s === a ? b : a);
  const jobs: { jobId: string; token: string; attempt: number }[] = [];
  const raced: boolean[] = [];
  const killedPc = PCS - 1; // at B
  await pool([...Array(PCS).keys()], async (i) => {
    const home = siteOf(i);
    const [mine, theirs] = await Promise.all([bootConfig(home.url, mac(i)), i % 10 === 0 ? bootConfig(other(home).url, mac(i)) : null]);
    jobs[i] = mine;
    if (theirs) raced[i] = theirs.jobId === mine.jobId && theirs.token === mine.token && theirs.attempt === mine.attempt;
    await call(home.url, mine.token, 'POST', '/agent/v1/job/progress', { percent: 50, message: progressText(i) });
    if (i !== killedPc) await call(home.url, mine.token, 'POST', '/agent/v1/job/result', { result: 'successful' });
  });
  const played = Date.now();
  const seenAll = (m: Map<string, number>) => [...Array(PCS).keys()].every((i) => m.has(progressText(i)));
  await until('progress of all PCs on both streams', () => seenAll(onA.messages) && seenAll(onB.messages), 15_000);
  const progressOnBoth = Date.now();

  // Site B dies mid-job (its PC's agent reported progress, no result). The PC's next boot is
  // answered by site A: the same job, attempt 2, and the agent finishes it there.
  const killed = jobs[killedPc]!;
  const bExited = new Promise((r) => b.child.once('exit', r));
  process.kill(b.child.pid!, 'SIGKILL');
  await bExited;
  const again = await bootConfig(a.url, mac(killedPc));
  await call(a.url, again.token, 'GET', '/agent/v1/job');
  const oldToken = await fetch(`${a.url}/agent/v1/job`, { headers: { authorization: `Bearer ${killed.token}` } });
  await call(a.url, again.token, 'POST', '/agent/v1/job/result', { result: 'successful' });
  const finalJob = (await call(a.url, token, 'GET', `/api/v1/jobs/${killed.jobId}`)).body;

  const all = (await call(a.url, token, 'GET', '/api/v1/jobs?limit=1000')).body;
  const list = (Array.isArray(all) ? all : all.jobs) as { id: string; clientId: string; state: string; site: string | null }[];
  const killedClient = (await call(a.url, token, 'GET', `/api/v1/clients/pc${killedPc}`)).body;
  const siteOfJob = new Map(list.map((j) => [j.clientId, j.site]));
  await onA.close();
  await onB.close();
  const aExited = new Promise((r) => a.child.once('exit', r));
  a.child.kill('SIGTERM');
  await aExited;
  const count = (m: Map<string, number>) => [...Array(PCS).keys()].filter((i) => m.get(progressText(i)) === 1).length;
  const result = {
    jobs: list.length,
    clientsWithJobs: new Set(list.map((j) => j.clientId)).size,
    distinctJobIds: new Set(jobs.map((j) => j.jobId)).size,
    succeeded: list.filter((j) => j.state === 'succeeded').length,
    racedPcs: raced.filter((r) => r !== undefined).length,
    racedSame: raced.filter((r) => r === true).length,
    progressOnceOnA: count(onA.messages),
    progressOnceOnB: count(onB.messages),
    /** PCs that asked one site only, whose job names that site. */
    jobsAtTheirSite: [...Array(PCS).keys()].filter((i) => i % 10 !== 0 && i !== killedPc && siteOfJob.get(`pc${i}`) === `site-${i < PCS / 2 ? 'a' : 'b'}`).length,
    killed: {
      jobId: killed.jobId,
      attempt: killed.attempt,
      nextBootJobId: again.jobId,
      nextBootAttempt: again.attempt,
      oldTokenStatus: oldToken.status,
      final: { state: finalJob.state, attempt: finalJob.attempt, site: finalJob.site },
      lastSeenSite: killedClient.lastSeenSite,
    },
    ms: { start: started - t0, play: played - started, progressOnBoth: progressOnBoth - played, total: Date.now() - t0 },
  };
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
