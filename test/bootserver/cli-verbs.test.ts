// The CLI verbs that adapt admin API routes one to one (group rm, client edit, job log, images),
// run through the real binary against a real `netimage serve`, wrong input included: a wrong
// call prints one line, exits non-zero and changes nothing. One server for the file; each test
// works on its own clients and groups.
import test, { type ExecutionContext } from 'ava';
import { agentCall, parseNetbootConfig } from '../helpers/server.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, spawnServe, startCli, type CliFailure, type ServeProcess } from '../helpers/cli.ts';
import { closedPort } from '../os-images/helpers/mini-mirror.ts';
import { wakeTargetText } from '../../bootserver/cli/commands/group.ts';

let server: ServeProcess | undefined;
test.before(async () => {
  // The server runs in Berlin's zone, the CLI (unless a test says otherwise) in the same env: the
  // time tests run a CLI in another zone to show whose zone counts.
  server = await spawnServe({ TZ: 'Europe/Berlin' });
});
test.after.always(async () => {
  await server?.stop();
});

function cli(...args: string[]) {
  return server!.cli(...args);
}

/** A run that must fail: its exit code and its stderr, which must be one line. */
async function fails(t: ExecutionContext, args: string[]): Promise<{ code: number; stderr: string }> {
  const e = (await t.throwsAsync(cli(...args))) as CliFailure;
  t.is(e.stdout, '', `${args.join(' ')}: nothing on stdout`);
  t.is(e.stderr.trimEnd().split('\n').length, 1, `${args.join(' ')}: one line on stderr: ${e.stderr}`);
  return { code: e.code, stderr: e.stderr.trimEnd() };
}

async function clientJson(id: string): Promise<{ id: string; mac: string | null; uuid: string | null; group: string | null; description: string }> {
  return JSON.parse((await cli('client', 'show', id, '--json')).stdout);
}

async function groupIds(): Promise<string[]> {
  return JSON.parse((await cli('group', 'list', '--json')).stdout).map((g: { id: string }) => g.id);
}

/** Start a job for a client the way its PXE boot would, and take it as its agent. */
async function takeJob(mac: string, client: string, product: string): Promise<{ jobId: string; token: string }> {
  await cli('action', 'set', client, product);
  const cfg = await (await fetch(`${server!.url}/boot/grub/client/efi/mac-${mac}/uuid-.cfg`)).text();
  const job = parseNetbootConfig(cfg);
  if (!job) throw new Error(`no job in the boot config of ${client}:\n${cfg}`);
  const fetched = await agentCall(server!.url, job.token, 'GET', '/job');
  if (fetched.status !== 200) throw new Error(`agent GET /job: ${fetched.status}`);
  return job;
}

test('group rm removes a group and leaves its clients without one; a wrong call changes nothing', async (t) => {
  await cli('group', 'add', 'room-rm');
  await cli('group', 'add', 'room-keep');
  await cli('client', 'add', 'pc-rm1', '--mac', '52:54:00:0a:00:01', '--group', 'room-rm');

  t.is((await fails(t, ['group', 'rm'])).code, 2);
  const two = await fails(t, ['group', 'rm', 'room-rm', 'room-keep']);
  t.deepEqual(two, { code: 2, stderr: 'netimage: usage: netimage group rm <name>' });
  t.deepEqual(await fails(t, ['group', 'rm', 'room-nosuch']), { code: 1, stderr: 'netimage: 404: group room-nosuch not found (netimage group list shows the rooms)' });
  t.true((await groupIds()).includes('room-rm'), 'nothing removed by the wrong calls');
  t.true((await groupIds()).includes('room-keep'));

  t.is((await cli('group', 'rm', 'room-rm')).stdout, 'removed group room-rm\n');
  const groups = await groupIds();
  t.false(groups.includes('room-rm'));
  t.true(groups.includes('room-keep'));
  t.is((await clientJson('pc-rm1')).group, null, 'the client stays, without a group');
});

test('client edit changes only the fields given; "" clears a group; wrong input changes nothing', async (t) => {
  await cli('group', 'add', 'room-edit');
  await cli('client', 'add', 'pc-ed1', '--mac', '52:54:00:0b:00:01', '--description', 'lab PC');
  await cli('client', 'add', 'pc-ed2', '--mac', '52:54:00:0b:00:02');
  // The name as stored: the next command names it so.
  t.is((await cli('client', 'add', 'PC-ED3', '--mac', '52:54:00:0b:00:03')).stdout, 'added pc-ed3 (host names are kept in lower case)\n');
  t.is((await clientJson('pc-ed3')).id, 'pc-ed3');
  const before = await clientJson('pc-ed1');

  t.deepEqual(await fails(t, ['client', 'edit', 'pc-ed1']), { code: 2, stderr: 'netimage: client edit: nothing to change: give --mac, --uuid, --group or --description' });
  t.regex((await fails(t, ['client', 'edit', 'pc-ed1', '--mac', 'not-a-mac'])).stderr, /^netimage: 400: .*MAC address like 52:54:00:12:34:56/);
  t.deepEqual(await fails(t, ['client', 'edit', 'pc-ed1', '--mac', '52:54:00:0B:00:02']), { code: 1, stderr: 'netimage: 409: MAC 52:54:00:0b:00:02 already belongs to client pc-ed2' });
  t.deepEqual(await fails(t, ['client', 'edit', 'pc-ed1', '--group', 'room-nosuch']), { code: 1, stderr: 'netimage: 404: group room-nosuch not found (netimage group list shows the rooms)' });
  t.deepEqual(await fails(t, ['client', 'edit', 'pc-nosuch', '--description', 'x']), { code: 1, stderr: 'netimage: 404: client pc-nosuch not found (netimage client list shows the registered PCs)' });
  t.deepEqual(await fails(t, ['client', 'edit', 'pc-ed1', '--mac', '']), {
    code: 1,
    stderr: 'netimage: 409: client pc-ed1 needs a MAC or an SMBIOS UUID to be recognised at boot: keep one of them',
  });
  t.is((await fails(t, ['client', 'edit', 'pc-ed1', '--request', 'setup'])).code, 2, 'an option of another command is refused');
  t.deepEqual(await clientJson('pc-ed1'), before, 'nothing changed by the wrong calls');

  t.is((await cli('client', 'edit', 'pc-ed1', '--group', 'room-edit', '--uuid', '8A1B2C3D-4E5F-4A6B-8C7D-0E1F2A3B4C5D')).stdout, 'changed pc-ed1: uuid 8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d, group room-edit\n');
  const { modified: _changed, ...edited } = (await clientJson('pc-ed1')) as Awaited<ReturnType<typeof clientJson>> & { modified: string };
  const { modified: _was, ...unedited } = before as typeof before & { modified: string };
  t.deepEqual(edited, { ...unedited, uuid: '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d', group: 'room-edit' }, 'only the fields given changed');
  await cli('client', 'edit', 'pc-ed1', '--group', '', '--description', 'teacher PC');
  const after = await clientJson('pc-ed1');
  t.is(after.group, null);
  t.is(after.description, 'teacher PC');
  t.is(after.mac, '52:54:00:0b:00:01', 'fields not given stay');
  t.is((await cli('client', 'edit', 'pc-ed1', '--mac', '')).stdout, 'changed pc-ed1: mac (none)\n', 'with a UUID the MAC may go');
  t.is((await clientJson('pc-ed1')).mac, null);
});

test('job log prints the agent log of a job named by the short id `jobs` shows', async (t) => {
  await cli('client', 'add', 'pc-log1', '--mac', '52:54:00:0c:00:01');
  const job = await takeJob('52:54:00:0c:00:01', 'pc-log1', 'hwinvent');
  t.deepEqual(await fails(t, ['job', 'log', job.jobId.slice(0, 8)]), { code: 1, stderr: 'netimage: 404: no log uploaded for this job' }, 'no log before the agent uploads one');
  const log = 'hwinvent starting\n{"disks":1}\nhwinvent done\n';
  t.is((await agentCall(server!.url, job.token, 'POST', '/job/log', log)).status, 200);
  await agentCall(server!.url, job.token, 'POST', '/job/result', { result: 'successful' });

  const short = (await cli('jobs', '--client', 'pc-log1')).stdout.split('\n')[2]!.split(/\s+/)[0]!;
  t.is(short, job.jobId.slice(0, 8));
  t.is((await cli('job', 'log', short)).stdout, log, 'the log as uploaded, line that looks like JSON included');
  t.is((await cli('job', 'log', job.jobId)).stdout, log, 'the full id works too');
  t.deepEqual(JSON.parse((await cli('job', 'log', short, '--json')).stdout), { job: job.jobId, log });

  t.deepEqual(await fails(t, ['job', 'log', 'pc-log1']), { code: 2, stderr: 'netimage: "pc-log1" is not a job id (the JOB column of netimage jobs, e.g. 3f2a9c1e)' });
  t.regex((await fails(t, ['job', 'log', '0000000f'])).stderr, /^netimage: 404: no job id starts with 0000000f/);
  t.is((await fails(t, ['job', 'log'])).code, 2);
  t.is((await fails(t, ['job', 'show', short])).code, 2);
});

test("jobs --group lists the room's jobs, --last only each PC's newest; an unknown group is an error", async (t) => {
  await cli('group', 'add', 'room-jl');
  await cli('client', 'add', 'pc-jl1', '--mac', '52:54:00:0c:01:01', '--group', 'room-jl');
  await cli('client', 'add', 'pc-jl2', '--mac', '52:54:00:0c:01:02');
  const ids: string[] = [];
  for (const [mac, id] of [['52:54:00:0c:01:01', 'pc-jl1'], ['52:54:00:0c:01:01', 'pc-jl1'], ['52:54:00:0c:01:02', 'pc-jl2']] as const) {
    const job = await takeJob(mac, id, 'hwinvent');
    await agentCall(server!.url, job.token, 'POST', '/job/result', { result: 'successful' });
    ids.push(job.jobId);
  }
  const rows = (out: string) => out.split('\n').slice(2).filter(Boolean).map((l) => l.split(/\s+/)[0]);
  t.deepEqual(rows((await cli('jobs', '--group', 'room-jl')).stdout), [ids[1]!.slice(0, 8), ids[0]!.slice(0, 8)], "both of the room's jobs, not the other PC's");
  t.deepEqual(rows((await cli('jobs', '--group', 'room-jl', '--last')).stdout), [ids[1]!.slice(0, 8)]);
  t.deepEqual((JSON.parse((await cli('jobs', '--client', 'pc-jl1', '--last', '--json')).stdout) as { id: string }[]).map((j) => j.id), [ids[1]]);
  t.regex((await fails(t, ['jobs', '--group', 'room-nope'])).stderr, /^netimage: 404: group room-nope not found/);
  t.deepEqual(await fails(t, ['jobs', '--follow', '--group', 'room-nope']), { code: 1, stderr: 'netimage: 404: group room-nope not found (netimage group list shows the rooms)' });
  t.is((await fails(t, ['jobs', '--follow', '--group', 'room-jl', '--client', 'pc-jl1'])).code, 2);
  t.is((await fails(t, ['jobs', '--follow', '--group', 'room-jl', '--last'])).code, 2);
});

test("jobs --follow --group shows the room's PCs only, in the server's zone", async (t) => {
  await cli('group', 'add', 'room-fg');
  await cli('group', 'add', 'room-fg-other');
  await cli('client', 'add', 'pc-fg1', '--mac', '52:54:00:0c:02:01', '--group', 'room-fg');
  await cli('client', 'add', 'pc-fg2', '--mac', '52:54:00:0c:02:02', '--group', 'room-fg-other');
  const follower = startCli(t, server!.env, process.execPath, [CLI, 'jobs', '--follow', '--group', 'room-fg']);
  await follower.printed(/^following/);
  t.regex(follower.stdout(), /^following the jobs of the PCs in room-fg \(times Europe\/Berlin, \+0[12]:00; Ctrl-C to stop\)\n$/);
  const other = await takeJob('52:54:00:0c:02:02', 'pc-fg2', 'hwinvent');
  await agentCall(server!.url, other.token, 'POST', '/job/progress', { percent: 30, message: 'other room' });
  const mine = await takeJob('52:54:00:0c:02:01', 'pc-fg1', 'hwinvent');
  await agentCall(server!.url, mine.token, 'POST', '/job/progress', { percent: 40, message: 'this room' });
  await follower.printed(/this room/);
  const stdout = follower.stdout();
  t.regex(stdout, /pc-fg1\s+hwinvent\s+running\s+\[#+\.+\]\s+40% this room/);
  t.notRegex(stdout, /pc-fg2|other room/, 'events of the PCs in the other room are left out');
  // The time of day is Berlin's, as the "following" line says.
  const line = stdout.split('\n').find((l) => l.includes('this room'))!;
  const berlinHour = (ms: number) => new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', hourCycle: 'h23' }).format(new Date(ms));
  t.true([berlinHour(Date.now() - 10_000), berlinHour(Date.now())].includes(line.slice(0, 2)), line);
});

test('images lists the images the client reported with size, date and format, the one restore would use, and what is not known', async (t) => {
  await cli('client', 'add', 'pc-img1', '--mac', '52:54:00:0d:00:01');
  const none = (await cli('images', 'pc-img1')).stdout;
  t.regex(none, /^no images known on pc-img1's backup partition/);
  t.regex(none, /no backup, delimage or prepare job has succeeded on it yet/);

  // What the backup product's agent reports at the end of a backup (imaging/products/backup.ts):
  // first as an older agent did (names only), then with the images' details.
  const job = await takeJob('52:54:00:0d:00:01', 'pc-img1', 'opsi-local-image-backup');
  await agentCall(server!.url, job.token, 'POST', '/client/properties', { productId: 'opsi-local-image-restore', values: { imagefile: 'win11', imagefiles_list: ['ubuntu2404', 'win11'] } });
  await agentCall(server!.url, job.token, 'POST', '/client/properties', { productId: 'opsi-local-image-backup', values: { free_on_backup: '31.2G of 60.0G free' } });
  const namesOnly = (await cli('images', 'pc-img1')).stdout;
  t.regex(namesOnly, /^IMAGE\s+SIZE\s+CREATED\s+FORMAT\s+RESTORE\n[- ]+\nubuntu2404\s+unknown\s+unknown\s+unknown\s+-\nwin11\s+unknown\s+unknown\s+unknown\s+selected\n/);
  t.regex(namesOnly, /unknown: pc-img1's agent reported names only/);
  const images = [
    { name: 'ubuntu2404', sizeBytes: 5 * 2 ** 30 + 2 ** 29, createdAt: null, sourcePartition: '/dev/sda3', fsType: 'ext4', format: 'stream' },
    { name: 'win11', sizeBytes: 21 * 2 ** 30, createdAt: '2026-11-30T16:05:09.000Z', sourcePartition: '/dev/sda3', fsType: 'ntfs', format: 'chunked' },
  ];
  await agentCall(server!.url, job.token, 'POST', '/client/properties', { productId: 'opsi-local-image-restore', values: { imagefile: 'win11', imagefiles_list: ['ubuntu2404', 'win11'] }, images });
  await agentCall(server!.url, job.token, 'POST', '/job/result', { result: 'successful' });

  const text = (await cli('images', 'pc-img1')).stdout;
  t.regex(text, /^IMAGE\s+SIZE\s+CREATED\s+FORMAT\s+RESTORE\n[- ]+\nubuntu2404\s+5\.5 GiB\s+unknown\s+stream\s+-\nwin11\s+21 GiB\s+2026-11-30 17:05:09 \+01:00\s+chunked\s+selected\n/);
  t.regex(text, /backup partition: 31\.2G of 60\.0G free \(at the last backup\)/);
  t.regex(text, new RegExp(`as of \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d \\+0[12]:00, opsi-local-image-backup job ${job.jobId.slice(0, 8)}`));
  t.notRegex(text, /names only/);
  const json = JSON.parse((await cli('images', 'pc-img1', '--json')).stdout);
  t.deepEqual(
    json.images.map(({ reported: _r, ...i }: { reported: string }) => i),
    images.map(({ name, ...i }) => ({ name, selected: name === 'win11', ...i })),
  );
  t.is(json.listFrom.jobId, job.jobId);

  t.deepEqual(await fails(t, ['images', 'pc-nosuch']), { code: 1, stderr: 'netimage: 404: client pc-nosuch not found (netimage client list shows the registered PCs)' });
  t.deepEqual(await fails(t, ['images']), { code: 2, stderr: 'netimage: usage: netimage images <hostname>' });
});

test('a new admin\'s mistakes say what to do: unknown PC, room or product (with the near id), a size that is not one; nothing set', async (t) => {
  await cli('group', 'add', 'room-typo');
  await cli('client', 'add', 'pc-typo', '--mac', '52:54:00:0a:00:71', '--group', 'room-typo');
  t.deepEqual(await fails(t, ['action', 'set', 'pc-typo', 'opsi-local-image-bakup']), {
    code: 1,
    stderr: 'netimage: 404: product opsi-local-image-bakup not found; did you mean opsi-local-image-backup? (netimage product list shows the product ids)',
  });
  t.regex((await fails(t, ['action', 'set', 'pc-typo', 'backup'])).stderr, /^netimage: 404: product backup not found; did you mean opsi-local-image-backup\?/);
  t.regex((await fails(t, ['schedule', 'add', 'typo', '--every', 'weekdays 07:00', '--group', 'room-typo', 'opsi-local-image-restor'])).stderr, /^netimage: 404: product opsi-local-image-restor not found; did you mean opsi-local-image-restore\?/);
  t.false((await cli('schedule', 'ls')).stdout.includes('typo'), 'no schedule stored');
  t.deepEqual(await fails(t, ['action', 'set', 'pc-typo', 'no-such-product']), {
    code: 1,
    stderr: 'netimage: 404: product no-such-product not found (netimage product list shows the product ids)',
  });
  t.deepEqual(await fails(t, ['action', 'set', 'pc-nosuch', 'opsi-local-image-backup']), {
    code: 1,
    stderr: 'netimage: 404: client pc-nosuch not found (netimage client list shows the registered PCs)',
  });
  t.deepEqual(await fails(t, ['action', 'set', '--group', 'room-nosuch', 'opsi-local-image-backup']), {
    code: 1,
    stderr: 'netimage: 404: group room-nosuch not found (netimage group list shows the rooms)',
  });
  const prepare = ['action', 'set', 'pc-typo', 'opsi-local-image-prepare', '--prop'];
  t.deepEqual(await fails(t, [...prepare, 'system_partition_size=banana']), {
    code: 1,
    stderr: 'netimage: 400: opsi-local-image-prepare.system_partition_size: "banana" is not a size (use e.g. 30G, 30GB, 500M, 100%)',
  });
  t.regex((await fails(t, [...prepare, 'data_partition_size=40'])).stderr, /^netimage: 400: opsi-local-image-prepare\.data_partition_size: "40" has no unit/);
  t.regex((await fails(t, [...prepare, 'minimal_backup_partition_size=4G'])).stderr, /minimal_backup_partition_size: "4G" must be a percentage of the disk, like 55%$/);
  t.regex((await fails(t, ['props', 'pc-typo', 'opsi-local-image-prepare', '--prop', 'winpe_partition_size=4Q'])).stderr, /unknown unit "Q"/);
  t.deepEqual(await fails(t, ['action', 'set', 'pc-typo', 'opsi-local-image-restore', '--prop', 'imagefile=base']), {
    code: 1,
    stderr: "netimage: 409: pc-typo has no image base; its images: none: back it up first with opsi-local-image-backup, or fetch a golden image from the server's depot with server_image=<name>; nothing was changed (netimage depot ls lists the golden images)",
  });
  // --yes still prints what it would wipe (stdout); the refusal is the one line on stderr.
  const noCommon = (await t.throwsAsync(cli('action', 'set', '--group', 'room-typo', 'opsi-local-image-restore', '--yes'))) as CliFailure;
  t.regex(noCommon.stderr.trimEnd(), /^netimage: 409: no image is present on every client of the group: back them up first \(opsi-local-image-backup\).*; with this command: --prop server_image=NAME, or netimage room restore room-typo --server-image NAME/);
  t.deepEqual(await fails(t, ['client', 'import', '/nonexistent/room.csv']), { code: 2, stderr: 'netimage: cannot read /nonexistent/room.csv: no such file' });
  t.deepEqual(await fails(t, ['inventory', 'pc-typo']), { code: 1, stderr: 'netimage: 404: no inventory for pc-typo yet: run hwinvent on it (netimage action set pc-typo hwinvent; it runs at the next network boot)' });
  const states = JSON.parse((await cli('states', 'pc-typo', '--json')).stdout) as { productId: string; actionRequest: string }[];
  t.false(states.some((s) => s.actionRequest !== 'none'), 'no action was set by the refused calls');
  const props = (await cli('props', 'pc-typo', 'opsi-local-image-prepare')).stdout;
  t.regex(props, /system_partition_size\s+"30G"/, 'the default is still in force');
  // Valid sizes pass: a percentage, and 0 for no data partition.
  await cli(...prepare, 'system_partition_size=50%', '--prop', 'data_partition_size=0');
  t.regex((await cli('props', 'pc-typo', 'opsi-local-image-prepare')).stdout, /system_partition_size\s+"50%"/);
});

test('the help lists every verb, and `<group> --help` only that group', async (t) => {
  const help = (await cli('help')).stdout;
  for (const line of ['netimage group rm <name>', 'netimage client edit <hostname>', 'netimage job log <job>', 'netimage images <hostname>', 'netimage serve [--config FILE]', 'netimage jobs [--client C | --group G] [--last] [--limit N] [--tz ZONE]', 'netimage jobs --follow [--client C | --group G] [--job ID] [--tz ZONE]']) {
    t.true(help.includes(line), line);
  }
  const client = (await cli('client', '--help')).stdout;
  t.regex(client, /^ {2}netimage client add /);
  t.notRegex(client, /netimage (group|jobs|serve)/);
  t.regex((await cli('--version')).stdout, /^netimage \d+\.\d+\.\d+\n$/);
  t.is((await cli('version')).stdout, (await cli('--version')).stdout);
  const unknown = (await t.throwsAsync(cli('frobnicate'))) as CliFailure;
  t.is(unknown.code, 2);
  t.regex(unknown.stderr, /^netimage: unknown command: frobnicate\n/);
});

test('schedule show reads as a schedule, not as JSON; --json keeps the API object; an unknown name is one 404 line', async (t) => {
  await cli('group', 'add', 'room-sched');
  await cli('schedule', 'add', 'morning-sched', '--every', 'weekdays 07:00', '--tz', 'Europe/Berlin', '--group', 'room-sched', 'opsi-local-image-restore', '--wake', '--yes');
  const text = (await cli('schedule', 'show', 'morning-sched')).stdout;
  t.false(text.trimStart().startsWith('{'), text);
  t.regex(text, /^schedule morning-sched\n/);
  t.regex(text, /^ {2}target: +group room-sched$/m);
  t.regex(text, /^ {2}does: +setup opsi-local-image-restore \+ wake$/m);
  t.regex(text, /^ {2}when: +.*\(Europe\/Berlin\)$/m);
  t.regex(text, /^ {2}next run: +\d{4}-\d{2}-\d{2} 07:00:00 \+0[12]:00$/m, "in the server's zone (Berlin), where 07:00 Berlin is 07:00");
  t.regex(text, /no runs yet/);
  const json = JSON.parse((await cli('schedule', 'show', 'morning-sched', '--json')).stdout);
  t.is(json.name, 'morning-sched');
  t.deepEqual(json.runs, []);
  t.regex((await fails(t, ['schedule', 'show', 'no-such-sched'])).stderr, /^netimage: 404: /);
});

test('client show reads as a PC, not as JSON; unknown room or PC filters are 404 lines, empty ones say whose list is empty', async (t) => {
  await cli('group', 'add', 'room-show');
  await cli('group', 'add', 'room-empty');
  await cli('client', 'add', 'pc-show', '--mac', '52:54:00:0a:00:81', '--group', 'room-show', '--description', 'teacher desk');
  const text = (await cli('client', 'show', 'pc-show')).stdout;
  t.false(text.trimStart().startsWith('{'), text);
  t.regex(text, /^client pc-show\n/);
  t.regex(text, /^ {2}MAC: +52:54:00:0a:00:81$/m);
  t.regex(text, /^ {2}SMBIOS UUID: +-$/m);
  t.regex(text, /^ {2}group: +room-show$/m);
  t.regex(text, /^ {2}description: +teacher desk$/m);
  t.regex(text, /^ {2}last seen: +never/m);
  t.regex(text, /^ {2}registered: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0[12]:00$/m, "in the server's zone (Berlin) with the offset");
  t.regex((await cli('client', 'show', 'pc-show', '--tz', 'UTC')).stdout, /^ {2}registered: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+00:00$/m);
  t.regex(text, /^ {2}inventory: +none yet \(netimage action set pc-show hwinvent\)$/m);
  t.is(JSON.parse((await cli('client', 'show', 'pc-show', '--json')).stdout).mac, '52:54:00:0a:00:81', '--json keeps the API object');

  t.deepEqual(await fails(t, ['client', 'list', '--group', 'room-nosuch']), { code: 1, stderr: 'netimage: 404: group room-nosuch not found (netimage group list shows the rooms)' });
  t.is((await cli('client', 'list', '--group', 'room-empty')).stdout, 'no clients in group room-empty yet: netimage client add <hostname> --mac <MAC> --group room-empty\n');
  t.deepEqual(await fails(t, ['jobs', '--client', 'pc-nosuch']), { code: 1, stderr: 'netimage: 404: client pc-nosuch not found (netimage client list shows the registered PCs)' });
  t.is((await cli('jobs', '--client', 'pc-show')).stdout, 'no jobs for pc-show yet\n');
  // Following an unknown PC ends at once with the 404 (it waited silently forever).
  const follow = (await t.throwsAsync(cli('jobs', '--follow', '--client', 'pc-nosuch'))) as CliFailure;
  t.is(follow.code, 1);
  t.is(follow.stderr, 'netimage: 404: client pc-nosuch not found (netimage client list shows the registered PCs)\n');
  t.is(follow.stdout, '', 'no "following" line for a stream that never opened');
});

test('action set --request none says the request was taken back, not that it runs at the next boot', async (t) => {
  await cli('group', 'add', 'room-clear');
  await cli('client', 'add', 'pc-clear', '--mac', '52:54:00:0a:00:91', '--group', 'room-clear');
  await cli('action', 'set', 'pc-clear', 'opsi-local-image-backup');
  t.is((await cli('action', 'set', 'pc-clear', 'opsi-local-image-backup', '--request', 'none')).stdout, 'cleared the opsi-local-image-backup request of pc-clear: it does not run at the next network boot\n');
  t.regex((await cli('states', 'pc-clear')).stdout, /^opsi-local-image-backup\s+none\s/m);
  t.is((await cli('action', 'set', '--group', 'room-clear', 'opsi-local-image-backup', '--request', 'none')).stdout, 'cleared the opsi-local-image-backup request of 1 client(s) of room-clear: pc-clear\n');
});

test('a refused field is named as the admin typed it (--request, --mac, --role, --state, the name), not as the API body field; client import names the rooms it made and refuses a file over the limit by its size', async (t) => {
  await cli('client', 'add', 'pc-words', '--mac', '52:54:00:0e:00:01');
  const request = await fails(t, ['action', 'set', 'pc-words', 'hwinvent', '--request', 'bogus']);
  t.regex(request.stderr, /^netimage: 400: --request: Invalid option: expected one of "setup"\|/);
  t.deepEqual(await fails(t, ['client', 'add', 'pc-words2', '--mac', 'zz']), { code: 1, stderr: 'netimage: 400: --mac: a MAC address like 52:54:00:12:34:56' });
  t.regex((await fails(t, ['client', 'add', 'bad name!', '--mac', '52:54:00:0e:00:02'])).stderr, /^netimage: 400: the name: a host name like pc01/);
  t.regex((await fails(t, ['user', 'add', 'u-words', '--role', 'boss', '--token-only'])).stderr, /^netimage: 400: --role: Invalid option: expected one of "admin"\|"operator"$/);
  t.regex((await fails(t, ['os', 'installs', '--state', 'x'])).stderr, /^netimage: 400: --state: Invalid option/);
  t.deepEqual(await fails(t, ['os', 'build', 'debian-12', '--packages', 'vim bad;name']), { code: 1, stderr: 'netimage: 400: --packages (item 2): "bad;name" is not a Debian package name (letters a-z, digits, "+", "-", ".")' });
  t.regex((await fails(t, ['group', 'wake-target', 'nosuch-words', '999.1.1.1'])).stderr, /^netimage: 400: the broadcast address: Invalid IPv4 address$/);
  t.is((await clientJson('pc-words')).id, 'pc-words');
  // client import says which rooms it made (a typo in the file's room column made a new room unnoticed).
  const csv = join(server!.dir, 'words.csv');
  await writeFile(csv, 'pc-words3,52:54:00:0e:00:03,,room-words-new\n');
  t.is((await cli('client', 'import', csv)).stdout, 'imported 1 client(s); made the new group(s) room-words-new (netimage group rm <name> takes one back)\n');
  // Over the server's limit: said as such, not as "cannot reach the server (write EPIPE)".
  const huge = join(server!.dir, 'huge.csv');
  await writeFile(huge, 'pc,52:54:00:00:00:00,,room\n'.repeat(200_000));
  t.deepEqual(await fails(t, ['client', 'import', huge]), { code: 2, stderr: `netimage: ${huge} is 5.1 MiB; one import takes at most 5 MiB (about 100,000 PCs): split the file` });
});

test('group wake-target without any target says so; a port that is no number is a usage line; audit --since that is no time too', async (t) => {
  // No target at all needs a server without a non-loopback address (a network namespace, as in
  // the probe that found it); the text is the command's own function.
  const none = wakeTargetText('room-wt', { broadcast: null, port: 9, from: 'default' });
  t.notRegex(none, /\(none: set one\):9/);
  t.regex(none, /^room-wt: no wake target: .*netimage group wake-target room-wt <broadcast>$/);
  await cli('group', 'add', 'room-wt');
  const before = (await cli('group', 'wake-target', 'room-wt')).stdout;
  t.deepEqual(await fails(t, ['group', 'wake-target', 'room-wt', '10.1.101.255', '--port', 'abc']), { code: 2, stderr: 'netimage: --port takes a UDP port number (1-65535; Wake-on-LAN uses 9 or 7), got "abc"' });
  t.is((await cli('group', 'wake-target', 'room-wt')).stdout, before, 'nothing was set');
  t.is((await cli('group', 'wake-target', 'room-wt', '10.1.101.255', '--port', '7')).stdout, "room-wt: magic packets go to 10.1.101.255:7 (the group's own target)\n");
  t.deepEqual(await fails(t, ['audit', '--since', 'yesterday']), { code: 2, stderr: 'netimage: --since "yesterday" is not a time like 2026-12-01, 2026-12-01 07:00 or an ISO time' });
  t.is((await cli('audit', '--actor', 'nobody-at-all')).stdout, 'no audit entries match\n');
});

test('jobs --follow against a stopped server is the one "cannot reach" line, not fetch\'s TypeError', async (t) => {
  const port = await closedPort();
  const e = (await t.throwsAsync(cli('jobs', '--follow', '--url', `http://127.0.0.1:${port}`))) as CliFailure;
  t.is(e.code, 1);
  t.is(e.stderr, `netimage: cannot reach the netimage server at http://127.0.0.1:${port} (connect ECONNREFUSED 127.0.0.1:${port}); is it running? (bash run.sh start)\n`);
  t.notRegex(e.stderr, /TypeError/);
});

test('group rm is refused while a schedule targets the room, and says which operators lose it', async (t) => {
  await cli('group', 'add', 'room-gone');
  await cli('group', 'add', 'room-stays');
  await new Promise<void>((resolve, reject) => {
    const child = execFile(process.execPath, [CLI, 'user', 'add', 'op-gone', '--role', 'operator', '--groups', 'room-gone,room-stays'], { env: server!.env }, (e) => (e ? reject(e) : resolve()));
    child.stdin!.end('a long enough password\n');
  });
  await cli('schedule', 'add', 'gone-morning', '--every', 'weekdays 07:00', '--group', 'room-gone', '--wake');
  t.deepEqual(await fails(t, ['group', 'rm', 'room-gone']), { code: 1, stderr: 'netimage: 409: group room-gone is the target of schedule(s) gone-morning: remove them first (netimage schedule rm gone-morning); nothing was removed' });
  t.regex((await cli('user', 'ls')).stdout, /^op-gone\s+operator\s+room-gone,room-stays\s/m, 'refused: nothing changed');
  await cli('schedule', 'rm', 'gone-morning');
  t.is((await cli('group', 'rm', 'room-gone')).stdout, 'removed group room-gone; operator(s) op-gone no longer have it\n');
  t.regex((await cli('user', 'ls')).stdout, /^op-gone\s+operator\s+room-stays\s/m);
});

test('ls and list both work in every group that lists (docs and fingers mix them)', async (t) => {
  // Other tests of this file add to the shared server meanwhile: compare what only this test touches.
  await cli('group', 'add', 'room-ls');
  await cli('client', 'add', 'pc-ls', '--mac', '52:54:00:0a:00:a1', '--group', 'room-ls');
  const ids = (out: string) => (JSON.parse(out) as { id?: string; name?: string }[]).map((x) => x.id ?? x.name);
  t.true(ids((await cli('group', 'ls', '--json')).stdout).includes('room-ls'));
  t.deepEqual(ids((await cli('client', 'ls', '--group', 'room-ls', '--json')).stdout), ['pc-ls']);
  t.deepEqual(ids((await cli('client', 'list', '--group', 'room-ls', '--json')).stdout), ['pc-ls']);
  t.deepEqual(JSON.parse((await cli('product', 'ls', '--json')).stdout), JSON.parse((await cli('product', 'list', '--json')).stdout));
  t.true(Array.isArray(JSON.parse((await cli('user', 'list', '--json')).stdout)));
  t.true(Array.isArray(JSON.parse((await cli('schedule', 'list', '--json')).stdout)));
  t.is((await cli('depot', 'list')).stdout, (await cli('depot', 'ls')).stdout);
  t.deepEqual(await fails(t, ['client', 'ls', 'extra']), { code: 2, stderr: 'netimage: usage: netimage client list [--group G]' });
});

test('schedule add --at sends the wall time and zone; the server works out the instant; ls and show print times in the server\'s zone (or --tz) with the offset', async (t) => {
  await cli('group', 'add', 'room-tz');
  const out = (await cli('schedule', 'add', 'tz-once', '--at', '2027-01-15 06:30', '--tz', 'Europe/Berlin', '--group', 'room-tz', '--wake')).stdout;
  t.regex(out, /, once 2027-01-15 06:30 \(Europe\/Berlin\); next run 2027-01-15 06:30:00 \+01:00\n$/);
  t.like(JSON.parse((await cli('schedule', 'show', 'tz-once', '--json')).stdout), { at: '2027-01-15T05:30:00.000Z', atLocal: '2027-01-15T06:30:00', timezone: 'Europe/Berlin', nextRun: '2027-01-15T05:30:00.000Z' }, 'JSON stays ISO UTC');
  t.regex((await cli('schedule', 'add', 'tz-summer', '--at', '2027-07-15 06:30', '--tz', 'Europe/Berlin', '--group', 'room-tz', '--wake')).stdout, /next run 2027-07-15 06:30:00 \+02:00\n$/);
  // Without --tz the wall time is the server's (Berlin), whatever zone the CLI runs in.
  const newYork = { ...server!.env, TZ: 'America/New_York' };
  const run = (...args: string[]) => promisify(execFile)(process.execPath, [CLI, ...args], { env: newYork });
  t.regex((await run('schedule', 'add', 'tz-server', '--at', '2027-07-15 06:30', '--group', 'room-tz', '--wake')).stdout, /once 2027-07-15 06:30 \(server zone\); next run 2027-07-15 06:30:00 \+02:00\n$/);
  t.like(JSON.parse((await cli('schedule', 'show', 'tz-server', '--json')).stdout), { nextRun: '2027-07-15T04:30:00.000Z', timezone: null });
  const ls = (await run('schedule', 'ls')).stdout;
  t.regex(ls, /^tz-once\s+once 2027-01-15 06:30 \(Europe\/Berlin\)\s+group room-tz\s+wake\s+skip\s+2027-01-15 06:30:00 \+01:00\s+-$/m);
  t.regex((await run('schedule', 'ls', '--tz', 'UTC')).stdout, /^tz-once\s.*\s2027-01-15 05:30:00 \+00:00\s+-$/m);
  t.regex((await cli('schedule', 'show', 'tz-once', '--tz', 'Asia/Kolkata')).stdout, /^ {2}next run: 2027-01-15 11:00:00 \+05:30$/m);
  // An offset in the time wins; an unknown zone is the server's 400, nothing stored.
  t.regex((await cli('schedule', 'add', 'tz-offset', '--at', '2027-01-15T06:30:00+02:00', '--tz', 'Europe/Berlin', '--group', 'room-tz', '--wake')).stdout, /next run 2027-01-15 05:30:00 \+01:00\n$/);
  t.deepEqual(await fails(t, ['schedule', 'add', 'tz-bad', '--at', '2027-01-15 06:30', '--tz', 'Mars/Olympus', '--group', 'room-tz', '--wake']), { code: 1, stderr: 'netimage: 400: --tz: unknown time zone "Mars/Olympus" (an IANA name like Europe/Berlin)' });
  t.deepEqual(await fails(t, ['schedule', 'ls', '--tz', 'Mars/Olympus']), { code: 2, stderr: 'netimage: unknown time zone "Mars/Olympus" (an IANA name like Europe/Berlin)' });
  t.deepEqual(await fails(t, ['schedule', 'add', 'tz-bad', '--at', '2027-01-15 06:30', '--group', 'room-tz', '--wake', '--late-window', '1h']), { code: 2, stderr: 'netimage: --late-window takes a number of seconds (e.g. 3600), got "1h"' });
  t.deepEqual(await fails(t, ['schedule', 'add', 'tz-bad', '--at', '2027-02-30 06:30', '--group', 'room-tz', '--wake']), { code: 2, stderr: 'netimage: --at "2027-02-30 06:30" is not a time like 2026-12-02 07:00 or 2026-12-02T07:00:00+01:00' });
  t.false((await cli('schedule', 'ls')).stdout.includes('tz-bad'));
});

test("audit prints times in the server's zone with the offset, and reads --since in the same zone (or --tz)", async (t) => {
  const newYork = { ...server!.env, TZ: 'America/New_York' };
  const run = (...args: string[]) => promisify(execFile)(process.execPath, [CLI, ...args], { env: newYork });
  const wall = (ms: number, zone: string) => new Intl.DateTimeFormat('sv-SE', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(ms));
  await cli('group', 'add', 'room-audit-tz');
  const text = (await run('audit', '--limit', '5')).stdout;
  t.regex(text.split('\n')[2]!, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+0[12]:00\s+\S+\s+cli\s/, text);
  const shown = text.split('\n')[2]!.slice(0, 19);
  t.is(shown.slice(11, 13), wall(Date.now(), 'Europe/Berlin').slice(11, 13), "the server's (Berlin's) hour, not the CLI's (New York's)");
  // A minute ago and a minute ahead, as a Berlin clock reads: the group add is in, then nothing.
  t.regex((await run('audit', '--since', wall(Date.now() - 60_000, 'Europe/Berlin'))).stdout, /POST \/groups/);
  t.is((await run('audit', '--since', wall(Date.now() + 120_000, 'Europe/Berlin'))).stdout, 'no audit entries match\n');
  // --tz: typed and shown in that zone.
  t.regex((await run('audit', '--since', wall(Date.now() - 60_000, 'UTC'), '--tz', 'UTC')).stdout, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+00:00\s+\S+\s+cli\s.*POST \/groups/m);
  t.is(JSON.parse((await run('audit', '--limit', '1', '--json')).stdout)[0].ts.slice(-1), 'Z', 'JSON stays ISO UTC');
});

test('doctor asks the server the CLI talks to: --url with no server behind it is a problem, not "all checks passed"', async (t) => {
  const port = await closedPort();
  const e = (await t.throwsAsync(cli('doctor', '--url', `http://127.0.0.1:${port}`))) as CliFailure;
  t.is(e.code, 1);
  t.regex(e.stdout, new RegExp(`^✘ server +no netimage server answers at http://127\\.0\\.0\\.1:${port} \\(.*ECONNREFUSED.*\\): start it`, 'm'));
  t.notRegex(e.stdout, /all checks passed/);
  t.regex(e.stdout, /\d+ problem\(s\) found\n$/);
  // The saved login's server answers and takes the token; a wrong token is a problem too.
  const ok = await cli('doctor').catch((f: CliFailure) => f);
  t.regex(ok.stdout, new RegExp(`^✔ server +netimage \\S+ answers at ${server!.url.replace(/\./g, '\\.')}$`, 'm'));
  t.regex(ok.stdout, /^✔ cli login +the admin API takes this CLI's token$/m);
  const wrong = (await t.throwsAsync(cli('doctor', '--token', 'ni_wrong'))) as CliFailure;
  t.regex(wrong.stdout, /^✘ cli login +the server refuses this CLI's token: netimage login/m);
});

test('jobs --follow while the server stops, with NETIMAGE_FOLLOW_RECONNECT_SECONDS=0: the server does not wait for it, the CLI says the stream ended and the jobs go on, exit 1 (not a silent 0)', async (t) => {
  const own = await spawnServe();
  t.teardown(own.stop);
  const cli = startCli(t, { ...own.env, NETIMAGE_FOLLOW_RECONNECT_SECONDS: '0' }, process.execPath, [CLI, 'jobs', '--follow']);
  await cli.printed(/following all jobs/);
  // An open stream used to hold the stop (fastify waits for every connection) until the follower left.
  await own.stop();
  t.is(await cli.exited, 1);
  t.regex(cli.stderr(), /^netimage: the netimage server at http:\/\/127\.0\.0\.1:\d+ ended the live stream.*: stopped or restarting\? The jobs go on; netimage jobs shows where they are\n$/);
});

test('jobs --follow --job across a server restart: each event once, the ones from while it was away too, then exit 0 when the job ends', async (t) => {
  const own = await spawnServe();
  t.teardown(own.stop);
  const mac = '52:54:00:0a:0f:01';
  await own.cli('client', 'add', 'pc-follow', '--mac', mac);
  await own.cli('action', 'set', 'pc-follow', 'hwinvent');
  const job = parseNetbootConfig(await (await fetch(`${own.url}/boot/grub/client/efi/mac-${mac}/uuid-.cfg`)).text())!;
  await agentCall(own.url, job.token, 'GET', '/job');
  await agentCall(own.url, job.token, 'POST', '/job/progress', { percent: 10, message: 'before the restart' });
  const cli = startCli(t, own.env, process.execPath, [CLI, 'jobs', '--follow', '--job', job.jobId.slice(0, 8)]);
  await cli.printed(/before the restart/);
  await own.halt();
  await cli.printed(/ended the live stream/, 'stderr');
  // While the CLI is away the server runs on another port; then again on the one it knows.
  const away = await own.start({ NETIMAGE_HTTP_PORT: '0' });
  await agentCall(away, job.token, 'POST', '/job/progress', { percent: 60, message: 'while the CLI was away' });
  await own.start();
  await cli.printed(/is back/, 'stderr');
  await cli.printed(/while the CLI was away/);
  await agentCall(own.url, job.token, 'POST', '/job/progress', { percent: 90, message: 'after the restart' });
  await agentCall(own.url, job.token, 'POST', '/job/result', { result: 'successful' });
  t.is(await cli.exited, 0);
  const lines = cli.stdout().trim().split('\n');
  t.regex(lines[0]!, /^following job [0-9a-f-]{36} /);
  const shown = lines.slice(1).map((l) => l.slice(10).replace(/\s+/g, ' ').trim());
  t.deepEqual(new Set(shown).size, shown.length, `no line twice:\n${cli.stdout()}`);
  for (const text of ['boot configuration read', 'agent started', 'before the restart', 'while the CLI was away', 'after the restart']) t.is(shown.filter((l) => l.includes(text)).length, 1, text);
  t.regex(lines.at(-1)!, /pc-follow\s+hwinvent\s+succeeded\s.*succeeded$/);
  t.regex(cli.stderr(), /^netimage: the netimage server at \S+ ended the live stream.*Trying again for up to 2 min \(the jobs go on; Ctrl-C to stop\)\nnetimage: the live stream from \S+ is back\n$/);
});

test('NETIMAGE_FOLLOW_RECONNECT_SECONDS that is not a number of seconds is one clear line before anything is followed', async (t) => {
  const e = (await t.throwsAsync(promisify(execFile)(process.execPath, [CLI, 'jobs', '--follow'], { env: { ...server!.env, NETIMAGE_FOLLOW_RECONNECT_SECONDS: '-5' } }))) as CliFailure;
  t.is(e.code, 2);
  t.is(e.stderr, 'netimage: NETIMAGE_FOLLOW_RECONNECT_SECONDS takes a whole number of seconds from 0 to 86400, got "-5"\n');
  t.is(e.stdout, '');
});

test('jobs lists every PC of a room of 105 with --last (the API answers 100 by default), and says when --limit cut a list', async (t) => {
  const csv = join(server!.dir, 'room-page.csv');
  const macs = Array.from({ length: 105 }, (_, i) => `52:54:00:7c:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`);
  await writeFile(csv, macs.map((mac, i) => `pg${String(i).padStart(3, '0')},${mac},,room-page`).join('\n') + '\n');
  await cli('client', 'import', csv);
  // 105 names would be one unreadable line: the first 20 and how many more.
  t.regex((await cli('action', 'set', '--group', 'room-page', 'hwinvent')).stdout, /^setup of hwinvent set for 105 client\(s\) of room-page: pg000, pg001, (pg0\d\d, ){17}pg019 and 85 more\n$/);
  // Each PC's job starts when it reads its boot config, as at its PXE boot.
  for (const mac of macs) t.truthy(parseNetbootConfig(await (await fetch(`${server!.url}/boot/grub/client/efi/mac-${mac}/uuid-.cfg`)).text()));
  const last = await cli('jobs', '--group', 'room-page', '--last', '--json');
  t.is(JSON.parse(last.stdout).length, 105, 'one row per PC of the room');
  t.is(last.stderr, '');
  const rows = (r: { stdout: string }) => r.stdout.trim().split('\n').length - 2; // less the header and its rule
  const cut = await cli('jobs', '--group', 'room-page', '--limit', '7');
  t.is(rows(cut), 7);
  t.is(cut.stderr, 'netimage: the newest 7 jobs shown; there are more (--limit N, up to 5000)\n');
  const all = await cli('jobs', '--group', 'room-page', '--limit', '105');
  t.is(rows(all), 105);
  t.is(all.stderr, '', 'all of them: nothing to say');
  t.is((await cli('jobs', '--group', 'room-page')).stderr, 'netimage: the newest 100 jobs shown; there are more (--limit N, up to 5000)\n');
  t.deepEqual(await fails(t, ['jobs', '--limit', '0']), { code: 2, stderr: 'netimage: --limit takes a number of jobs from 1 to 5000, got "0"' });
  t.deepEqual(await fails(t, ['audit', '--limit', 'all']), { code: 2, stderr: 'netimage: --limit takes a number of entries from 1 to 10000, got "all"' });
  const audit = await cli('audit', '--limit', '1');
  t.is(rows(audit), 1);
  t.is(audit.stderr, 'netimage: the newest entry shown; there are more (--limit N, up to 10000)\n');
});
