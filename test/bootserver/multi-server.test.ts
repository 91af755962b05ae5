// Several bootservers on one PostgreSQL store (docs/multi-server.md): job events written through
// one server reach the live listeners of the others; issue 16's two-site scenario (two bootservers
// in two network namespaces, 200 simulated PCs, one site killed mid-job). One real throwaway
// cluster for the file; the tests run one at a time (they start servers, and the scenario is timed).
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { AdminClient } from '../../bootserver/cli/api-client.ts';
import { ProductId } from '../../lib/products.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { agentCall, clientConfigPath, issueJob, parseNetbootConfig, startTestServer, type TestServer } from '../helpers/server.ts';

let cluster: PgCluster | undefined;
/** Two in-process servers on one database of the cluster, shared by the tests that need a pair. */
let pair: { a: TestServer; b: TestServer; url: string } | undefined;
test.before(async () => {
  cluster = await startPgCluster();
  const url = await cluster.migratedDatabase();
  const a = await startTestServer({ overrides: { 'store.url': url, 'site.name': 'campus' } });
  const b = await startTestServer({ overrides: { 'store.url': url, 'site.name': 'branch-b' } }).catch(async (error: unknown) => {
    await a.stop();
    throw error;
  });
  pair = { a, b, url };
});
test.after.always(async () => {
  await pair?.a.stop();
  await pair?.b.stop();
  await cluster?.stop();
});
const theCluster = () => {
  if (!cluster) throw new Error('the PostgreSQL cluster did not start');
  return cluster;
};
const thePair = () => {
  if (!pair) throw new Error('the servers did not start');
  return pair;
};

/** Follow a server's event stream as `netimage jobs --follow` does; resolves once it is subscribed. */
async function follow(url: string, token: string, query: string) {
  const seen: { jobId: string; message: string; percent: number | null; state: string }[] = [];
  const waiters: (() => void)[] = [];
  const abort = new AbortController();
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const done = new AdminClient(url, token)
    .streamEvents(
      query,
      (data) => {
        seen.push(data as (typeof seen)[number]);
        for (const w of waiters.splice(0)) w();
      },
      abort.signal,
      opened,
    )
    .catch(() => undefined);
  await open;
  return {
    seen,
    /** Wait (up to deadlineMs) until an event matching pred has arrived. */
    async until(pred: (e: (typeof seen)[number]) => boolean, deadlineMs = 10_000): Promise<(typeof seen)[number]> {
      const end = Date.now() + deadlineMs;
      for (;;) {
        const hit = seen.find(pred);
        if (hit) return hit;
        const left = end - Date.now();
        if (left <= 0) throw new Error(`no such event within ${deadlineMs} ms; saw ${JSON.stringify(seen)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    async close() {
      abort.abort();
      await done;
    },
  };
}

test.serial("job progress and the result written through server B appear live on server A's event stream, once each", async (t) => {
  const { a, b } = thePair();
  // The boot config is read at B (the PC's site), the admin follows at A.
  const job = await issueJob(b, { clientId: 'pc-b1', mac: '52:54:00:0b:00:01', productId: ProductId.hwinvent });
  const all = await follow(a.url, a.adminToken, '');
  const one = await follow(a.url, a.adminToken, `?job=${job.jobId}`);
  t.teardown(async () => {
    await all.close();
    await one.close();
  });
  t.is((await one.until((e) => /attempt 1 of/.test(e.message))).jobId, job.jobId, 'the job filter replays what B stored before');

  t.is((await agentCall(b.url, job.token, 'POST', '/job/progress', { percent: 40, message: 'reading the disk at site B' })).status, 200);
  const progress = await all.until((e) => e.message === 'reading the disk at site B');
  t.like(progress, { jobId: job.jobId, percent: 40, state: 'running' });
  await one.until((e) => e.message === 'reading the disk at site B');

  t.is((await agentCall(b.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  await all.until((e) => e.state === 'succeeded');
  await one.until((e) => e.state === 'succeeded');
  t.is(all.seen.filter((e) => e.message === 'reading the disk at site B').length, 1, 'each event once on A');
  // A shows the whole district: where the job ran and where the PC was last seen.
  t.is((await a.api('GET', `/api/v1/jobs/${job.jobId}`)).body.site, 'branch-b');
  t.like((await a.api('GET', '/api/v1/clients/pc-b1')).body, { lastSeenSite: 'branch-b' });

  // And the other way round: A's own events still reach A's listeners once (its bus, not the announcement).
  const second = await issueJob(a, { clientId: 'pc-a1', mac: '52:54:00:0a:00:01', productId: ProductId.hwinvent });
  t.is((await agentCall(a.url, second.token, 'POST', '/job/progress', { percent: 5, message: 'at site A' })).status, 200);
  await all.until((e) => e.message === 'at site A');
  const onB = await follow(b.url, b.adminToken, `?job=${second.jobId}`);
  t.teardown(onB.close);
  t.is((await agentCall(a.url, second.token, 'POST', '/job/progress', { percent: 6, message: 'at site A again' })).status, 200);
  await onB.until((e) => e.message === 'at site A again');
  t.is(all.seen.filter((e) => e.message === 'at site A').length, 1, "A's own event once on A");
});

test.serial("an event of server B announced to A only after A's own later event still reaches A's stream (ids are not the order a server learns of events)", async (t) => {
  const { a, b, url } = thePair();
  const onB = await issueJob(b, { clientId: 'pc-late-b', mac: '52:54:00:0b:00:02', productId: ProductId.hwinvent });
  const onA = await issueJob(a, { clientId: 'pc-late-a', mac: '52:54:00:0a:00:02', productId: ProductId.hwinvent });
  const all = await follow(a.url, a.adminToken, '');
  t.teardown(all.close);
  // The servers' LISTEN connections are paused (as a busy machine may leave them unscheduled), so
  // B's announcement reaches A after A has published its own, later event.
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  t.teardown(() => admin.end());
  const listeners = (
    await admin.query(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND (query LIKE 'LISTEN %' OR query LIKE 'SELECT COALESCE(MAX(id)%' OR query LIKE 'SELECT e.id, e.job_id%')`,
    )
  ).rows.map((r: { pid: number }) => Number(r.pid));
  t.is(listeners.length, 2, 'one listener connection per server');
  const resume = () => listeners.forEach((pid) => process.kill(pid, 'SIGCONT'));
  t.teardown(resume);
  listeners.forEach((pid) => process.kill(pid, 'SIGSTOP'));
  t.is((await agentCall(b.url, onB.token, 'POST', '/job/progress', { percent: 20, message: 'written at B first' })).status, 200);
  t.is((await agentCall(a.url, onA.token, 'POST', '/job/progress', { percent: 30, message: 'written at A second' })).status, 200);
  await all.until((e) => e.message === 'written at A second');
  resume();
  await all.until((e) => e.message === 'written at B first');
  t.is(all.seen.filter((e) => e.message === 'written at B first').length, 1);
});

test.serial('the link to PostgreSQL drops mid-job: agent calls and admin calls get 503 and change nothing, a new boot gets no config (Grub boots the local disk); after it is back the agent\'s retry lands and events flow across servers again', async (t) => {
  const { a, b } = thePair();
  const running = await issueJob(a, { clientId: 'pc-drop1', mac: '52:54:00:0d:00:01', productId: ProductId.hwinvent });
  t.is((await agentCall(a.url, running.token, 'POST', '/job/progress', { percent: 30, message: 'before the drop' })).status, 200);
  // A PC with an action pending that boots while the store is away.
  t.is((await a.api('POST', '/api/v1/clients', { id: 'pc-drop2', mac: '52:54:00:0d:00:02' })).status, 201);
  t.is((await a.api('PUT', `/api/v1/clients/pc-drop2/products/${ProductId.hwinvent}/action`, { actionRequest: 'setup' })).status, 200);
  const onA = await follow(a.url, a.adminToken, '');
  t.teardown(onA.close);

  await theCluster().restart(async () => {
    const progress = await agentCall(a.url, running.token, 'POST', '/job/progress', { percent: 60, message: 'during the drop' });
    t.is(progress.status, 503, 'the agent keeps the line and sends it again');
    t.regex(progress.body.message, /store \(PostgreSQL\) cannot be reached/);
    t.is((await agentCall(b.url, running.token, 'POST', '/job/result', { result: 'successful' })).status, 503, 'the result is retried by the agent (forever, with backoff)');
    const boot = await fetch(a.url + clientConfigPath('52:54:00:0d:00:02', null));
    t.is(boot.status, 503, 'no client config: Grub falls through to the local disk; no job is made');
    await boot.body?.cancel();
    t.is((await a.api('GET', '/api/v1/clients')).status, 503);
  });

  // Back: the same calls go through; what failed left nothing behind.
  t.is((await a.server.store.listJobs({ clientId: 'pc-drop2' })).length, 0, 'the boot during the drop made no job');
  t.is((await agentCall(b.url, running.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  t.like(await a.server.store.getJob(running.jobId), { state: 'succeeded', attempt: 1 });
  // A's listener connects again (0.5 s after the loss, doubling): B's events reach A's stream again.
  await onA.until((e) => e.jobId === running.jobId && e.state === 'succeeded', 15_000);
  const next = parseNetbootConfig(await (await fetch(b.url + clientConfigPath('52:54:00:0d:00:02', null))).text());
  t.is(next?.attempt, 1, 'the next boot of the waiting PC starts its job');
});

// Issue 16's must-show: two sites, each a bootserver in its own network namespace, sharing one
// PostgreSQL store; 200 simulated PCs (agent API calls, no VMs) split across them. The PCs live in
// a third namespace with a link to each site; the scenario itself runs there
// (test/helpers/two-site-driver.ts: Node cannot enter a namespace), this file makes the namespaces
// and checks what the scenario saw. PostgreSQL is reached over its unix socket, which no namespace hides.
const exec = promisify(execFile);
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });

/** Namespaces h26a/h26b (the sites) and h26p (the PCs), a veth from the PCs to each site. */
function makeNetwork() {
  const tag = process.pid.toString(36);
  const names = { a: `h26a-${tag}`, b: `h26b-${tag}`, pcs: `h26p-${tag}` };
  const cleanup = () => {
    for (const ns of Object.values(names)) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // not made, or already gone
      }
    }
  };
  try {
    for (const ns of Object.values(names)) {
      ip('netns', 'add', ns);
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    const sites = [
      { ns: names.a, ip: '10.226.1.1', pcIp: '10.226.1.2' },
      { ns: names.b, ip: '10.226.2.1', pcIp: '10.226.2.2' },
    ];
    for (const [n, s] of sites.entries()) {
      ip('-n', names.pcs, 'link', 'add', `to${n}`, 'type', 'veth', 'peer', 'name', 'lan', 'netns', s.ns);
      ip('-n', names.pcs, 'addr', 'add', `${s.pcIp}/24`, 'dev', `to${n}`);
      ip('-n', names.pcs, 'link', 'set', `to${n}`, 'up');
      ip('-n', s.ns, 'addr', 'add', `${s.ip}/24`, 'dev', 'lan');
      ip('-n', s.ns, 'link', 'set', 'lan', 'up');
    }
    return { names, sites: sites.map(({ ns, ip }) => ({ ns, ip })), cleanup };
  } catch (error) {
    cleanup();
    throw error;
  }
}

test.serial('two sites on one PostgreSQL: 200 PCs, no duplicate jobs, progress on both sides; a site killed mid-job, the PC continues at the other (attempt 2)', async (t) => {
  const net = makeNetwork();
  t.teardown(net.cleanup);
  const dir = await mkdtemp(join(tmpdir(), 'netimage-h26-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const storeUrl = await theCluster().emptyDatabase();

  const run = await exec('ip', ['netns', 'exec', net.names.pcs, process.execPath, 'test/helpers/two-site-driver.ts'], {
    env: { ...process.env, H26_STORE_URL: storeUrl, H26_DIR: dir, H26_SITES: JSON.stringify(net.sites) },
    timeout: 240_000,
    maxBuffer: 16 << 20,
  }).catch((error: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`the scenario failed: ${error.message}\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
  });
  const line = /^RESULT (.*)$/m.exec(run.stdout)?.[1];
  if (!line) throw new Error(`the scenario printed no result:\n${run.stdout}\n${run.stderr}`);
  const r = JSON.parse(line);
  t.log(`times (ms): ${JSON.stringify(r.ms)}`);

  t.is(r.jobs, 200, 'one job per PC in the shared store');
  t.is(r.clientsWithJobs, 200);
  t.is(r.distinctJobIds, 200);
  t.is(r.racedPcs, 20);
  t.is(r.racedSame, 20, 'a PC asking both sites at once gets one job, one attempt, one token');
  t.is(r.progressOnceOnA, 200, "every PC's progress, once, on site A's stream (100 of them written at B)");
  t.is(r.progressOnceOnB, 200, "every PC's progress, once, on site B's stream (100 of them written at A)");
  t.is(r.killed.attempt, 1);
  t.is(r.killed.nextBootJobId, r.killed.jobId, 'the next boot at the other site continues the same job');
  t.is(r.killed.nextBootAttempt, 2, '… as attempt 2');
  t.is(r.killed.oldTokenStatus, 401, "attempt 1's token no longer works");
  t.deepEqual(r.killed.final, { state: 'succeeded', attempt: 2, site: 'site-a' }, 'attempt 2 was served by site a');
  t.is(r.killed.lastSeenSite, 'site-a');
  t.is(r.jobsAtTheirSite, 179, 'every other job names the site that served it');
  t.is(r.succeeded, 200);
});
