// The agent's V8 startup snapshot (bootimage/builder/snapshot.ts) built by this node from the real
// sources, then started as init starts it (`node --snapshot-blob agent.blob -- options`) against a
// real bootserver on 127.0.0.1: hwinvent runs its tools (child processes after deserialisation),
// the server stores the result and the inventory; wrong options fail with the reason.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { buildAgentSnapshot, bundleSnapshotScript, SNAPSHOT_BLOB } from '../../bootimage/builder/snapshot.ts';
import { issueJob, startTestServer } from '../helpers/server.ts';

const ENTRY = join(import.meta.dirname, '../../bootimage/agent/snapshot-main.ts');

test.serial('hwinvent runs from the agent snapshot and the server stores result and inventory', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'ni-snap-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const script = await bundleSnapshotScript(ENTRY, join(work, 'src'));
  const { bytes } = await buildAgentSnapshot(process.execPath, script, work);
  const blob = join(work, SNAPSHOT_BLOB);
  t.true(existsSync(blob));
  t.true(bytes > 1_000_000, `blob ${bytes} bytes`);

  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const tag = randomBytes(3).toString('hex');
  const job = await issueJob(ts, { clientId: `snap-${tag}`, mac: `52:54:00:ee:${tag.slice(0, 2)}:${tag.slice(2, 4)}`, productId: 'hwinvent' });
  const cmdline = join(work, 'cmdline');
  await writeFile(cmdline, `quiet ${job.kernelCmdline(ts.url)}\n`);
  const runDir = join(work, 'run');
  const r = await execa(process.execPath, ['--snapshot-blob', blob, '--', '--cmdline-file', cmdline, '--run-dir', runDir, '--no-reboot', '--no-clock'], {
    reject: false,
  });
  t.is(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  t.regex(r.stdout, /^netimage: agent running \(from snapshot, node \d+\.\d+ s, agent loaded \d+\.\d+ s\)/);
  t.regex(r.stdout, /inventory stored/);
  const j = await ts.api('GET', `/api/v1/jobs/${job.jobId}`);
  t.is(j.body.state, 'succeeded', j.text);
  const inv = await ts.api('GET', `/api/v1/clients/snap-${tag}/inventory`);
  t.is(inv.status, 200);
  t.true(inv.body.memoryBytes > 0);
  t.like(JSON.parse(await readFile(join(runDir, 'result.json'), 'utf8')), { jobId: job.jobId, acknowledged: true });
});

test('options that are wrong fail with the reason from the snapshot too', async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'ni-snap-'));
  t.teardown(() => rm(work, { recursive: true, force: true }));
  const script = await bundleSnapshotScript(ENTRY, join(work, 'src'));
  await buildAgentSnapshot(process.execPath, script, work);
  const r = await execa(process.execPath, ['--snapshot-blob', join(work, SNAPSHOT_BLOB), '--', '--modules-timeout=0'], { reject: false });
  t.is(r.exitCode, 1);
  t.is(r.stdout.trim(), 'netimage: agent error: --modules-timeout wants seconds > 0, not 0');
});
