// The agent's whole flow on the host against a real bootserver on 127.0.0.1 (no QEMU): job fetch,
// hwinvent (read-only: lsblk, /sys, systeminformation), result, log upload; and the restart case
// where a stored, unacknowledged result is resent instead of running the product again.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_RUNNING_FILE, runAgent } from '../../bootimage/agent/run-agent.ts';
import { issueJob, startTestServer } from '../helpers/server.ts';

const silence = () => {
  const write = process.stdout.write.bind(process.stdout);
  const lines: string[] = [];
  process.stdout.write = ((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  return { lines, restore: () => void (process.stdout.write = write) };
};

test.serial('hwinvent runs on the host and the server stores result, inventory and log', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const runDir = await mkdtemp(join(tmpdir(), 'ni-agent-'));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));
  const tag = randomBytes(3).toString('hex');
  const mac = `52:54:00:aa:${tag.slice(0, 2)}:${tag.slice(2, 4)}`;
  const job = await issueJob(ts, { clientId: `host-${tag}`, mac, productId: 'hwinvent' });
  const out = silence();
  let code: number;
  try {
    code = await runAgent({ cmdlineText: `quiet ${job.kernelCmdline(ts.url)}`, runDir, noReboot: true, setClock: false });
  } finally {
    out.restore();
  }
  t.is(code, 0, out.lines.join(''));
  t.true(out.lines[0]?.startsWith('netimage: agent running'));
  const j = await ts.api('GET', `/api/v1/jobs/${job.jobId}`);
  t.is(j.body.state, 'succeeded');
  const inv = await ts.api('GET', `/api/v1/clients/host-${tag}/inventory`);
  t.is(inv.status, 200);
  t.true(inv.body.memoryBytes > 0);
  t.true(inv.body.cpu.cores > 0);
  const log = await ts.api('GET', `/api/v1/jobs/${job.jobId}/log`);
  t.regex(log.text, /inventory stored/);
  t.like(JSON.parse(await readFile(join(runDir, 'result.json'), 'utf8')), { jobId: job.jobId, acknowledged: true });
  t.is(await readFile(join(runDir, 'after-job'), 'utf8'), 'none');
});

test.serial('a restarted agent resends the stored result instead of running the product again', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const runDir = await mkdtemp(join(tmpdir(), 'ni-agent-'));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));
  const tag = randomBytes(3).toString('hex');
  const job = await issueJob(ts, { clientId: `again-${tag}`, mac: `52:54:00:bb:${tag.slice(0, 2)}:${tag.slice(2, 4)}`, productId: 'hwinvent' });
  // The job must be running on the server (the first agent fetched it) before a result counts.
  const fetched = await fetch(`${ts.url}/agent/v1/job`, { headers: { authorization: `Bearer ${job.token}` } });
  t.is(fetched.status, 200);
  await mkdir(runDir, { recursive: true });
  await writeFile(join(runDir, 'result.json'), JSON.stringify({ jobId: job.jobId, result: { result: 'failed', error: 'disk vanished' }, acknowledged: false, attempts: 3 }));
  const out = silence();
  let code: number;
  try {
    code = await runAgent({ cmdlineText: job.kernelCmdline(ts.url), runDir, noReboot: true, setClock: false });
  } finally {
    out.restore();
  }
  t.is(code, 2);
  t.true(out.lines.some((l) => l.includes('resending the stored result')));
  const j = await ts.api('GET', `/api/v1/jobs/${job.jobId}`);
  t.is(j.body.state, 'failed', j.text);
  t.regex(j.body.error ?? '', /disk vanished/);
  const inv = await ts.api('GET', `/api/v1/clients/again-${tag}/inventory`);
  t.is(inv.status, 404, 'the product did not run again');
});

// Two stages: init's second module pass runs beside the agent (docs/bootimage.md "Two stages").
// The agent talks to the server at once, but its product must not start before modules-ready.
test.serial('the agent fetches the job at once but starts the product only after modules-ready', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const runDir = await mkdtemp(join(tmpdir(), 'ni-agent-'));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));
  const tag = randomBytes(3).toString('hex');
  const job = await issueJob(ts, { clientId: `mods-${tag}`, mac: `52:54:00:cc:${tag.slice(0, 2)}:${tag.slice(2, 4)}`, productId: 'hwinvent' });
  const marker = join(runDir, 'modules-ready');
  const out = silence();
  // Lines printed before init "finished" its pass, and whether the job was running on the server then.
  let before: string[] = [];
  let stateBefore = '';
  let runningMarker = false;
  const timer = setTimeout(async () => {
    before = [...out.lines];
    runningMarker = existsSync(join(runDir, AGENT_RUNNING_FILE));
    stateBefore = (await ts.api('GET', `/api/v1/jobs/${job.jobId}`)).body.state;
    await writeFile(marker, '');
  }, 1500);
  let code: number;
  try {
    code = await runAgent({ cmdlineText: job.kernelCmdline(ts.url), runDir, noReboot: true, setClock: false, modulesReadyFile: marker, modulesTimeoutMs: 30_000 });
  } finally {
    clearTimeout(timer);
    out.restore();
  }
  t.is(code, 0, out.lines.join(''));
  const text = before.join('');
  t.regex(text, /netimage: agent running/);
  t.regex(text, /netimage: job .*: hwinvent/, 'the job was fetched before the modules were ready');
  t.regex(text, /waiting for the kernel modules/);
  t.notRegex(text, /netimage: \[|inventory stored/, `the product started before modules-ready:\n${text}`);
  t.is(stateBefore, 'running');
  t.true(runningMarker, 'agent-running was there for init before the modules were ready');
  t.regex(out.lines.join(''), /kernel modules ready/);
  t.is((await ts.api('GET', `/api/v1/jobs/${job.jobId}`)).body.state, 'succeeded');
  t.is((await ts.api('GET', `/api/v1/clients/mods-${tag}/inventory`)).status, 200);
});

test.serial('modules that never become ready fail the job with the reason, and the product does not run', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const runDir = await mkdtemp(join(tmpdir(), 'ni-agent-'));
  t.teardown(() => rm(runDir, { recursive: true, force: true }));
  const tag = randomBytes(3).toString('hex');
  const job = await issueJob(ts, { clientId: `nomods-${tag}`, mac: `52:54:00:dd:${tag.slice(0, 2)}:${tag.slice(2, 4)}`, productId: 'hwinvent' });
  const out = silence();
  let code: number;
  const started = Date.now();
  try {
    code = await runAgent({ cmdlineText: job.kernelCmdline(ts.url), runDir, noReboot: true, setClock: false, modulesReadyFile: join(runDir, 'modules-ready'), modulesTimeoutMs: 800 });
  } finally {
    out.restore();
  }
  t.is(code, 2, out.lines.join(''));
  t.true(Date.now() - started >= 800);
  const j = await ts.api('GET', `/api/v1/jobs/${job.jobId}`);
  t.is(j.body.state, 'failed', j.text);
  t.regex(j.body.error ?? '', /kernel modules not ready after 1 s: .*modules-ready missing/);
  t.is((await ts.api('GET', `/api/v1/clients/nomods-${tag}/inventory`)).status, 404, 'the product did not run');
});
