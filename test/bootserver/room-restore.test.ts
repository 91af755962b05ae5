// `netimage room restore <group> --follow` through the real binary against a real server: the
// three PCs' jobs are driven as the boot image would drive them (boot config, agent API).
import test, { type ExecutionContext } from 'ava';
import { agentCall, parseNetbootConfig } from '../helpers/server.ts';
import { CLI, startCli, startServe, type CliFailure, type ServeProcess } from '../helpers/cli.ts';
import { copyFile, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { Depot } from '../../bootserver/depot/depot.ts';
import { writeGoldenFiles } from '../helpers/golden-files.ts';

const RESTORE = 'opsi-local-image-restore';
const PCS = [
  { id: 'pc01', mac: '52:54:00:aa:bb:01' },
  { id: 'pc02', mac: '52:54:00:aa:bb:02' },
  { id: 'pc03', mac: '52:54:00:aa:bb:03' },
];

/** The restore properties a backup leaves on a PC: its images and the one to restore. */
async function recordImages(s: ServeProcess, clientId: string, images: string[]): Promise<void> {
  const res = await fetch(`${s.url}/api/v1/clients/${clientId}/products/${RESTORE}/properties`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ values: { imagefile: images[0], imagefiles_list: images } }),
  });
  if (res.status !== 200) throw new Error(`properties: ${res.status} ${await res.text()}`);
}

async function room(s: ServeProcess, images: string[][]): Promise<void> {
  await s.cli('group', 'add', 'room');
  for (const [i, pc] of PCS.entries()) {
    await s.cli('client', 'add', pc.id, '--mac', pc.mac, '--group', 'room');
    await recordImages(s, pc.id, images[i]!);
  }
}

async function bootJob(s: ServeProcess, mac: string): Promise<{ token: string }> {
  const cfg = await (await fetch(`${s.url}/boot/grub/client/efi/mac-${mac}/uuid-.cfg`)).text();
  return parseNetbootConfig(cfg)!;
}

/**
 * Run `room restore room --follow` (argv as given) and drive the three PCs' jobs once it follows:
 * each boots, reports 40 %, and ends; pc02 fails. Returns what the CLI printed and its exit code.
 */
async function restoreRoom(t: ExecutionContext, s: ServeProcess, command: string, argv: string[]): Promise<{ stdout: string; code: number | null }> {
  await room(s, [['win11', 'win10'], ['win11'], ['win11']]);
  const cli = startCli(t, s.env, command, argv);
  // Boot the PCs only once the CLI follows the stream (it says so after subscribing).
  await cli.printed(/following room/);
  for (const [i, pc] of PCS.entries()) {
    const job = await bootJob(s, pc.mac);
    await agentCall(s.url, job.token, 'GET', '/job');
    await agentCall(s.url, job.token, 'POST', '/job/progress', { percent: 40, message: `restoring ${pc.id}` });
    const result = i === 1 ? { result: 'failed', error: 'disk too small for win11' } : { result: 'successful' };
    t.is((await agentCall(s.url, job.token, 'POST', '/job/result', result)).status, 200);
  }
  const code = await cli.exited;
  t.is(cli.stderr(), '');
  return { stdout: cli.stdout(), code };
}

function assertSummary(t: ExecutionContext, stdout: string): void {
  t.regex(stdout, /restore of image win11 set for 3 PC\(s\) of room: pc01, pc02, pc03/);
  t.regex(stdout, /pc01\s+succeeded\s+\[#{20}\]\s+100%/);
  t.regex(stdout, /pc03\s+succeeded/);
  t.regex(stdout, /pc02\s+failed .*disk too small for win11/);
  t.regex(stdout, /(^|\x1b\[\?25h)2 succeeded, 1 failed in \S+\r?$/m);
  t.regex(stdout, /^ {2}pc02: .*disk too small for win11\r?$/m);
}

test('room restore --follow, not on a terminal: a line per change, a summary, exit 1 when one failed', async (t) => {
  const s = await startServe(t);
  const { stdout, code } = await restoreRoom(t, s, process.execPath, [CLI, 'room', 'restore', 'room', '--follow', '--yes']);
  t.is(code, 1);
  for (const pc of PCS) {
    t.regex(stdout, new RegExp(`${pc.id}\\s+waiting`));
    t.regex(stdout, new RegExp(`${pc.id}\\s+running\\s+\\[#{8}\\.{12}\\]\\s+40%\\s+restoring ${pc.id}`));
  }
  assertSummary(t, stdout);
  t.false(stdout.includes('\x1b['), 'no terminal control codes in plain output');
});

test('room restore --follow on a terminal redraws the lines in place', async (t) => {
  const s = await startServe(t);
  // util-linux script gives the CLI a terminal (with a size: log-update clips to its rows); -e passes on its exit code.
  const { stdout, code } = await restoreRoom(t, s, 'script', ['-qec', `stty rows 40 cols 120; exec ${process.execPath} ${CLI} room restore room --follow --yes`, '/dev/null']);
  t.is(code, 1);
  t.true(stdout.includes('\x1b[2K'), 'earlier frames are erased, not scrolled');
  t.regex(stdout, /following room: 3 waiting \(Ctrl-C to stop\)/, 'the header counts the PCs by state');
  t.regex(stdout, /following room: 1 failed, 2 succeeded \(Ctrl-C to stop\)/);
  assertSummary(t, stdout);
});

test('room restore --follow on a terminal shorter than the room: the header, the PCs that need a look, the rest counted', async (t) => {
  const s = await startServe(t);
  // 4 rows: the header, one PC, the count of the others, the cursor's line.
  const { stdout, code } = await restoreRoom(t, s, 'script', ['-qec', `stty rows 4 cols 120; exec ${process.execPath} ${CLI} room restore room --follow --yes`, '/dev/null']);
  t.is(code, 1);
  t.regex(stdout, /following room: 3 waiting \(Ctrl-C to stop\)\r\npc01 +waiting .*\r\n… and 2 more: 2 waiting\r\n/);
  t.regex(stdout, /following room: 1 failed, 2 succeeded \(Ctrl-C to stop\)\r\npc02 +failed .*disk too small for win11\r\n… and 2 more: 2 succeeded\r\n/);
  t.regex(stdout, /(^|\x1b\[\?25h)2 succeeded, 1 failed in \S+\r?$/m);
  t.regex(stdout, /^ {2}pc02: .*disk too small for win11\r?$/m);
});

test('the server restarts while room restore --follow follows: the CLI says so, tries again, and catches up on what happened while it was away', async (t) => {
  const s = await startServe(t);
  await room(s, [['win11'], ['win11'], ['win11']]);
  const cli = startCli(t, s.env, process.execPath, [CLI, 'room', 'restore', 'room', '--follow', '--yes']);
  await cli.printed(/following room/);
  const first = await bootJob(s, PCS[0]!.mac);
  await agentCall(s.url, first.token, 'POST', '/job/progress', { percent: 40, message: 'restoring pc01' });
  await cli.printed(/pc01\s+running/);
  await s.halt();
  await cli.printed(/ended the live stream.*Trying again for up to 2 min/, 'stderr');
  // While the CLI is away the server runs on another port (the same data dir), and every PC
  // ends there: nothing of it reaches the CLI's stream, only the job list can tell it.
  const away = { ...s, url: await s.start({ NETIMAGE_HTTP_PORT: '0' }) };
  t.is((await agentCall(away.url, first.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  for (const [i, pc] of PCS.slice(1).entries()) {
    const job = await bootJob(away, pc.mac);
    await agentCall(away.url, job.token, 'GET', '/job');
    const result = i === 0 ? { result: 'failed', error: 'disk too small for win11' } : { result: 'successful' };
    t.is((await agentCall(away.url, job.token, 'POST', '/job/result', result)).status, 200);
  }
  t.false(/pc02\s+failed/.test(cli.stdout()), 'the CLI cannot have seen it yet');
  await s.start(); // back on the port the CLI knows
  t.is(await cli.exited, 1);
  const errLines = cli.stderr().trim().split('\n');
  t.is(errLines.length, 2, cli.stderr());
  t.regex(errLines[0]!, /^netimage: the netimage server at http:\/\/127\.0\.0\.1:\d+ ended the live stream.*: stopped or restarting\? Trying again for up to 2 min \(the jobs go on; Ctrl-C to stop\)$/);
  t.regex(errLines[1]!, /^netimage: the live stream from http:\/\/127\.0\.0\.1:\d+ is back$/);
  const out = cli.stdout();
  t.regex(out, /pc01\s+succeeded\s+\[#{20}\]\s+100%\s+succeeded/);
  t.regex(out, /pc03\s+succeeded/);
  t.regex(out, /pc02\s+failed .*failed: disk too small for win11/);
  t.regex(out, /^2 succeeded, 1 failed in \S+$/m);
  t.regex(out, /^ {2}pc02: failed: disk too small for win11$/m);
});

test('room restore --follow on a terminal draws a busy room at most every 200 ms, not once per event', async (t) => {
  const s = await startServe(t);
  await s.cli('group', 'add', 'big');
  const pcs = Array.from({ length: 60 }, (_, i) => ({ id: `big${String(i).padStart(2, '0')}`, mac: `52:54:00:ab:00:${i.toString(16).padStart(2, '0')}` }));
  const csv = join(s.dir, 'big.csv');
  await writeFile(csv, pcs.map((pc) => `${pc.id},${pc.mac},,big`).join('\n') + '\n');
  await s.cli('client', 'import', csv);
  for (const pc of pcs) await recordImages(s, pc.id, ['win11']);
  const cli = startCli(t, s.env, 'script', ['-qec', `stty rows 100 cols 160; exec ${process.execPath} ${CLI} room restore big --follow --yes`, '/dev/null']);
  await cli.printed(/following big/);
  const started = Date.now();
  let events = 0;
  for (const pc of pcs) {
    const job = await bootJob(s, pc.mac);
    await agentCall(s.url, job.token, 'GET', '/job');
    for (const percent of [20, 40, 60]) await agentCall(s.url, job.token, 'POST', '/job/progress', { percent, message: `restoring ${pc.id}` });
    t.is((await agentCall(s.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
    events += 6; // boot config read, agent started, three progress, succeeded
  }
  t.is(await cli.exited, 0);
  const took = Date.now() - started;
  // Each drawing is one synchronized-output block (log-update); the first comes before the PCs start.
  const frames = cli.stdout().split('\x1b[?2026h').length - 1;
  t.true(frames <= Math.ceil(took / 200) + 3, `${frames} drawings in ${took} ms for ${events} events`);
  t.regex(cli.stdout(), /following big: 60 succeeded \(Ctrl-C to stop\)/, 'the last state is drawn');
  t.regex(cli.stdout(), /60 succeeded, 0 failed in \S+\r?$/m);
});

test('on a terminal the header line says while the stream is away, and the lines go on once it is back', async (t) => {
  const s = await startServe(t);
  await room(s, [['win11'], ['win11'], ['win11']]);
  const cli = startCli(t, s.env, 'script', ['-qec', `stty rows 40 cols 200; exec ${process.execPath} ${CLI} room restore room --follow --yes`, '/dev/null']);
  await cli.printed(/following room/);
  await s.halt();
  await cli.printed(/the netimage server at \S+ ended the live stream.*Trying again for up to 2 min/);
  await s.start();
  for (const pc of PCS) {
    const job = await bootJob(s, pc.mac);
    t.is((await agentCall(s.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  }
  t.is(await cli.exited, 0);
  const last = cli.stdout().slice(cli.stdout().lastIndexOf('following room'));
  t.notRegex(last, /ended the live stream/, 'the header is back to "following" once the stream is');
  t.regex(cli.stdout(), /(^|\x1b\[\?25h)3 succeeded, 0 failed in \S+\r?$/m);
  t.is(cli.stderr(), '');
});

test('the server stops and does not come back within NETIMAGE_FOLLOW_RECONNECT_SECONDS: the CLI says so and the jobs go on, exit 1, no summary calling running PCs failed', async (t) => {
  const s = await startServe(t);
  await room(s, [['win11'], ['win11'], ['win11']]);
  const withBadWait = { env: { ...s.env, NETIMAGE_FOLLOW_RECONNECT_SECONDS: 'soon' } };
  const bad = (await t.throwsAsync(promisify(execFile)(process.execPath, [CLI, 'room', 'restore', 'room', '--follow', '--yes'], withBadWait))) as CliFailure;
  t.is(bad.code, 2);
  t.is(bad.stderr, 'netimage: NETIMAGE_FOLLOW_RECONNECT_SECONDS takes a whole number of seconds from 0 to 86400, got "soon"\n');
  t.is(JSON.parse((await s.cli('jobs', '--json')).stdout).length, 0, 'nothing was set');
  const cli = startCli(t, { ...s.env, NETIMAGE_FOLLOW_RECONNECT_SECONDS: '1' }, process.execPath, [CLI, 'room', 'restore', 'room', '--follow', '--yes']);
  await cli.printed(/following room/);
  const job = await bootJob(s, PCS[0]!.mac);
  await agentCall(s.url, job.token, 'POST', '/job/progress', { percent: 40, message: 'restoring pc01' });
  await cli.printed(/pc01\s+running/);
  await s.halt();
  t.is(await cli.exited, 1);
  t.regex(cli.stderr(), /^netimage: the netimage server at http:\/\/127\.0\.0\.1:\d+ ended the live stream.*: stopped or restarting\? Trying again for up to 1 s \(the jobs go on; Ctrl-C to stop\)\nnetimage: the netimage server at http:\/\/127\.0\.0\.1:\d+ ended the live stream and did not answer again within 1 s: the jobs go on; netimage jobs shows where they are\n$/);
  t.notRegex(cli.stdout(), /succeeded, \d+ failed/, 'no summary: the PCs had not ended');
});

test('room restore of an unknown group or one with no common image: one clear line, nothing set', async (t) => {
  const s = await startServe(t);
  await room(s, [['win11'], ['win10'], ['win11']]);
  const unknown = (await t.throwsAsync(s.cli('room', 'restore', 'nowhere', '--follow'))) as CliFailure;
  t.not(unknown.code, 0);
  t.regex(unknown.stderr, /group nowhere not found/);
  t.is(unknown.stderr.trim().split('\n').length, 1);
  const noCommon = (await t.throwsAsync(s.cli('room', 'restore', 'room', '--follow', '--yes'))) as CliFailure;
  t.not(noCommon.code, 0);
  t.is(noCommon.stderr.trim().split('\n').length, 1);
  // The server's words name its property; the CLI adds this command's flag.
  t.is(
    noCommon.stderr.trim(),
    "netimage: 409: no image is present on every client of the group: back them up first (opsi-local-image-backup), or restore a golden image from the server's depot instead (server_image=<name>); with this command: netimage room restore room --server-image NAME (netimage depot ls lists the golden images, netimage images <hostname> what a PC has)",
  );
  t.is(noCommon.stdout, '', 'no "wipes the disks" line for a restore that was refused: --yes says it once the server took it');
  const wrongImage = (await t.throwsAsync(s.cli('room', 'restore', 'room', '--image', 'win7', '--yes'))) as CliFailure;
  t.regex(wrongImage.stderr, /win7/);
  for (const pc of PCS) t.notRegex((await s.cli('states', pc.id)).stdout, /restore\s+setup/);
});

test('room restore --server-image: a golden image for the room without a common image, --multicast starts the room\'s stream; a missing one or a wrong combination is one clear line, nothing set', async (t) => {
  const s = await startServe(t);
  await room(s, [['win11'], ['win10'], []]);
  const missing = (await t.throwsAsync(s.cli('room', 'restore', 'room', '--server-image', 'nosuch', '--multicast', '--yes'))) as CliFailure;
  t.regex(missing.stderr, /the depot has no golden image golden\/nosuch/);
  t.is(missing.stderr.trim().split('\n').length, 1);
  t.is(missing.stdout, '');
  const both = (await t.throwsAsync(s.cli('room', 'restore', 'room', '--image', 'win11', '--server-image', 'x', '--yes'))) as CliFailure;
  t.regex(both.stderr, /exclude each other/);
  const alone = (await t.throwsAsync(s.cli('room', 'restore', 'room', '--multicast', '--yes'))) as CliFailure;
  t.regex(alone.stderr, /need --server-image/);
  for (const pc of PCS) t.notRegex((await s.cli('states', pc.id)).stdout, /restore\s+setup/);

  // A golden image in serve's depot (written beside it, as an upload would leave it).
  const depot = await Depot.open(join(s.dir, 'data', 'depot'));
  await writeGoldenFiles(join(s.dir, 'golden-src'), 'lab-base', 100_000);
  await depot.create('golden', 'lab-base', { image: 'lab-base' }, async (dir) => {
    for (const f of ['image.pcl.zst', 'chunks.json', 'metadata.json']) await copyFile(join(s.dir, 'golden-src', f), join(dir, f));
  });
  // --fetch-only leaves the system partitions alone: the confirmation says what it does instead.
  const fetchOnly = 'opsi-local-image-restore puts golden image lab-base onto the backup partitions (replacing an image of that name already there; the system partitions are not touched) of 3 PC(s) of room: pc01, pc02, pc03';
  const unconfirmed = (await t.throwsAsync(s.cli('room', 'restore', 'room', '--server-image', 'lab-base', '--fetch-only'))) as CliFailure;
  t.true(unconfirmed.stderr.includes(`${fetchOnly}; nothing set: add --yes to confirm`), unconfirmed.stderr);
  t.notRegex(unconfirmed.stderr, /wipes/);
  const api = (body: unknown) => fetch(`${s.url}/api/v1/groups/room/action`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const noConfirm = await api({ productId: RESTORE, actionRequest: 'setup', properties: { server_image: 'lab-base', restore_after_fetch: false } });
  t.is(noConfirm.status, 400);
  t.regex(((await noConfirm.json()) as { message: string }).message, /^opsi-local-image-restore puts golden image lab-base onto the backup partitions \(replacing an image of that name already there; the system partitions are not touched\) of 3 PCs in group room \(pc01, pc02, pc03\): send "confirm": 3/);
  for (const pc of PCS) t.notRegex((await s.cli('states', pc.id)).stdout, /restore\s+setup/);
  const ok = await s.cli('room', 'restore', 'room', '--server-image', 'lab-base', '--multicast', '--fetch-only', '--yes');
  t.true(ok.stdout.startsWith(fetchOnly + '\n'), ok.stdout);
  t.regex(ok.stdout, /restore of golden image lab-base \(one multicast stream for the room\), fetch only set for 3 PC\(s\) of room: pc01, pc02, pc03/);
  const props = JSON.parse((await s.cli('props', 'pc03', RESTORE, '--json')).stdout) as Record<string, unknown>;
  t.like(props, { server_image: 'lab-base', server_image_multicast: true, restore_after_fetch: false });
  // The room's restore jobs get the session from serve.
  const job = await bootJob(s, PCS[2]!.mac);
  const seed = await agentCall(s.url, job.token, 'GET', '/seed');
  t.is(seed.status, 200, JSON.stringify(seed.body));
  t.like(seed.body, { entry: 'lab-base', port: 9042, base: '/depot/v1/golden/lab-base' });
});
