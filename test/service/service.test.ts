// netimage service install|status|uninstall into a temp directory (never this machine's
// /etc/systemd), the unit checked by systemd-analyze verify; and serve under systemd keeps the
// first-start admin token out of its output (the journal).
import test from 'ava';
import { execFile, spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../helpers/tempdir.ts';
import { serveEnv } from '../helpers/cli.ts';
import { installService, renderUnit, serviceStatus, uninstallService } from '../../bootserver/cli/service.ts';
import { stdoutIsJournal } from '../../bootserver/cli/commands/serve.ts';
import { repoRoot } from '../../lib/paths.ts';

const exec = promisify(execFile);
const CLI = join(repoRoot, 'bootserver', 'cli', 'main.ts');
const cli = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  exec(process.execPath, [CLI, ...args]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

test('install writes a unit for this checkout that systemd-analyze accepts; status and uninstall undo it', async (t) => {
  const dir = await tempDir(t, 'unit');
  const config = join(dir, 'netimage.yaml');
  await writeFile(config, 'http:\n  port: 8080\n');
  const install = await cli('service', 'install', '--target-dir', dir, '--config', config);
  t.regex(String(install.stdout), new RegExp(`wrote ${dir}/netimage.service`));
  t.regex(String(install.stdout), /enable it yourself/, 'a temp directory is never enabled');
  const unit = await readFile(join(dir, 'netimage.service'), 'utf8');
  t.true(unit.includes(`ExecStart=${process.execPath} ${CLI} serve --config ${config}\n`), unit);
  t.regex(unit, /^Restart=on-failure$/m);
  t.regex(unit, /^StandardOutput=journal$/m);
  t.regex(unit, /^WantedBy=multi-user\.target$/m);
  t.is((await stat(join(dir, 'netimage.service'))).mode & 0o777, 0o644);

  const verify = await exec('systemd-analyze', ['verify', join(dir, 'netimage.service')]).then(
    (r) => ({ code: 0, out: r.stderr + r.stdout }),
    (e: { code: number; stderr: string; stdout: string }) => ({ code: e.code, out: e.stderr + e.stdout }),
  );
  t.is(verify.code, 0, verify.out);
  t.notRegex(verify.out, /netimage\.service:/, `no complaint about our unit: ${verify.out}`);

  t.regex((await installService({ targetDir: dir, config })).join('\n'), /unchanged/);
  const status = await cli('service', 'status', '--target-dir', dir);
  t.regex(String(status.stdout), /installed: .*netimage\.service\n {2}ExecStart=.*serve --config/);
  t.regex(String((await cli('service', 'uninstall', '--target-dir', dir)).stdout), /removed .*netimage\.service/);
  const after = await cli('service', 'status', '--target-dir', dir);
  t.is(after.code, 3);
  t.regex(String(after.stdout), /not installed/);
  t.regex((await uninstallService({ targetDir: dir })).join('\n'), /not installed/);
});

test('a temp target directory never runs systemctl; a missing config file is refused and nothing is written', async (t) => {
  const dir = await tempDir(t, 'unit');
  const systemctl = async (args: string[]) => {
    t.fail(`systemctl ${args.join(' ')} must not run for a target directory`);
    return { exitCode: 1, stdout: '', stderr: '' };
  };
  await installService({ targetDir: dir, systemctl });
  t.true((await serviceStatus({ targetDir: dir, systemctl })).installed);
  t.is((await serviceStatus({ targetDir: dir, systemctl })).enabled, null);
  await uninstallService({ targetDir: dir, systemctl });
  await t.throwsAsync(installService({ targetDir: dir, config: join(dir, 'nope.yaml'), systemctl }), { message: /does not exist/ });
  t.false((await serviceStatus({ targetDir: dir, systemctl })).installed);
});

test('unit paths with spaces, %, $ and quotes are quoted for systemd; line breaks are refused', (t) => {
  const unit = renderUnit({ node: '/opt/node 24/bin/node', checkout: '/srv/net image', config: '/etc/a%b$c"d.yaml' });
  t.true(unit.includes('ExecStart="/opt/node 24/bin/node" "/srv/net image/bootserver/cli/main.ts" serve --config "/etc/a%%b$$c\\"d.yaml"\n'), unit);
  t.throws(() => renderUnit({ node: '/usr/bin/node', checkout: '/srv/x\nExecStartPre=/bin/rm', config: null }), { message: /line break/ });
});

test('serve under systemd (stdout is the JOURNAL_STREAM) writes the first-start token only to the 0600 credentials file', async (t) => {
  const dir = await tempDir(t, 'journal');
  // Stand-in for the journal's stream: a file as stdout, named by device:inode as systemd does.
  const logPath = join(dir, 'journal.log');
  const fd = openSync(logPath, 'w');
  const st = fstatSync(fd, { bigint: true });
  const env = serveEnv(dir, { JOURNAL_STREAM: `${st.dev}:${st.ino}`, NETIMAGE_LOG_LEVEL: 'info' });
  const child = spawn(process.execPath, [CLI, 'serve'], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  t.teardown(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
  const output = () => readFileSync(logPath, 'utf8');
  // Generous: a first start under a loaded machine (8 helpers on 2 cores) took over 20 s.
  const deadline = Date.now() + 90_000;
  while (!/First start: the admin token was written to (\S+) \(mode 0600\)/.test(output())) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve did not start:\n${output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const path = /written to (\S+) \(mode 0600\)/.exec(output())![1]!;
  t.is(path, join(dir, 'config', 'netimage', 'credentials.json'));
  t.is((await stat(path)).mode & 0o777, 0o600);
  const { url, token } = JSON.parse(await readFile(path, 'utf8')) as { url: string; token: string };
  t.regex(token, /^ni_/);
  await new Promise((r) => setTimeout(r, 300)); // any late log line
  t.false(output().includes(token), 'the token is nowhere in stdout/stderr (the journal)');
  t.notRegex(output(), /ni_[A-Za-z0-9_-]{20,}/);
  t.is((await fetch(`${url}/api/v1/groups`, { headers: { authorization: `Bearer ${token}` } })).status, 200, 'the saved token works');
});

test('an inherited JOURNAL_STREAM that is not our stdout does not count (a serve started from a service\'s shell prints as usual)', (t) => {
  t.false(stdoutIsJournal({ JOURNAL_STREAM: '8:12345' }));
  t.false(stdoutIsJournal({}));
  const st = fstatSync(1, { bigint: true });
  t.true(stdoutIsJournal({ JOURNAL_STREAM: `${st.dev}:${st.ino}` }), 'the stdout of this test process matches its own device:inode');
});
