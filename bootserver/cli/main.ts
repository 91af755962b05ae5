#!/usr/bin/env node
// `netimage`: runs the server (serve) and talks to its admin API (everything else).
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig, ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../../lib/logger.ts';
import { startBootServer, guessAdvertisedIp, NETIMAGE_VERSION } from '../server.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { newAdminToken, sha256Hex } from '../service/tokens.ts';
import { AdminClient, ApiError, readCredentials, saveCredentials } from './api-client.ts';
import { jobEventLine, table, type JobLineEvent } from './format.ts';
import { runDoctor } from './doctor.ts';
import { installService, serviceStatus, uninstallService } from './service.ts';
import { OPERATOR_OPTIONS, OPERATOR_USAGE, OperatorUsageError, runOperatorCommand, wakeAfterAction } from './operator.ts';

const USAGE = `netimage ${NETIMAGE_VERSION}: netboot and local-image appliance

Server:
  netimage serve [--config FILE]             run the bootserver (DHCP/TFTP/HTTP)
  netimage doctor [--config FILE]            check loaders, boot image, ports, config
  netimage token reset [--config FILE]       replace the admin token (local, needs the data dir)
  netimage service install|uninstall|status [--config FILE] [--target-dir DIR] [--no-enable]
                                             systemd unit for this checkout (default /etc/systemd/system)

Admin (talks to the server; --url URL, --token TOKEN, or saved by 'login'):
  netimage login <admin-token> [--url URL]
  netimage client add <hostname> [--mac MAC] [--uuid UUID] [--group G] [--description TEXT]
  netimage client list [--group G]
  netimage client show <hostname>
  netimage client rm <hostname>
  netimage client import <file.csv>           CSV: hostname,mac,uuid,group[,description]
  netimage group add <name> | group list
  netimage product list
  netimage props <hostname> <product> [--prop k=v ...]   show or set property values
  netimage action set <hostname|--group G> <product> [--request setup] [--prop k=v ...] [--wake]
  netimage states <hostname>                 product states (opsi productOnClient)
  netimage jobs [--client C] [--follow] [--job ID]
  netimage inventory <hostname>
${OPERATOR_USAGE}

Config: /etc/netimage/netimage.yaml or --config FILE, overridden by NETIMAGE_* variables
(see docs/configuration.md).`;

class UsageError extends Error {}

function loadCliConfig(file: string | undefined): Config {
  return loadConfig({ file: file ?? null });
}

function parseProps(list: string[] | undefined): Record<string, string | string[] | boolean> {
  const out: Record<string, string | string[] | boolean> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--prop takes name=value, got "${item}"`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

async function adminClient(values: { url?: string | undefined; token?: string | undefined; config?: string | undefined }): Promise<AdminClient> {
  const saved = await readCredentials();
  let url = values.url ?? process.env['NETIMAGE_URL'] ?? saved.url;
  if (!url) {
    let port = 8080;
    try {
      port = loadCliConfig(values.config).http.port;
    } catch {
      // fall back to the default port
    }
    url = `http://127.0.0.1:${port}`;
  }
  return new AdminClient(url, values.token ?? process.env['NETIMAGE_TOKEN'] ?? saved.token ?? null);
}

async function serve(configFile: string | undefined): Promise<void> {
  const config = loadCliConfig(configFile);
  const log = createLogger({ level: config.log.level });
  const server = await startBootServer(config, log);
  const advertised = config.advertisedIp ?? guessAdvertisedIp() ?? '127.0.0.1';
  const lines = [
    `netimage ${NETIMAGE_VERSION} is running`,
    `  admin API   ${server.url}/api/v1   (docs: ${server.url}/api/docs)`,
    `  boot files  ${config.paths.bootRoot}  (HTTP ${server.url}/boot/, TFTP ${server.protocols.tftpPort === null ? 'off' : `port ${server.protocols.tftpPort}`})`,
    `  DHCP        ${server.protocols.dhcp ? `${config.dhcp.mode} mode` : 'off'}; clients reach us at ${advertised}`,
    `  data        ${config.dataDir}`,
  ];
  if (server.initialAdminToken && process.env['JOURNAL_STREAM']) {
    // Started by systemd: stdout is the journal, which more people can read than the token should reach.
    const saved = await saveCredentials({ url: server.url, token: server.initialAdminToken }).catch((error: unknown) => {
      log.error({ err: error }, 'could not save the first-start admin token');
      return null;
    });
    lines.push(
      '',
      saved
        ? `First start: the admin token was written to ${saved} (mode 0600) and is not shown here (the journal keeps this output).`
        : 'First start: the admin token could not be saved (see the error above); create a new one with: netimage token reset',
    );
  } else if (server.initialAdminToken) {
    const saved = await saveCredentials({ url: server.url, token: server.initialAdminToken }).catch(() => null);
    lines.push(
      '',
      'First start: this is the admin token. It is shown only now; the server keeps only its hash.',
      `  ${server.initialAdminToken}`,
      saved ? `Saved for this user's CLI in ${saved}. Elsewhere: netimage login <token> --url ${server.url}` : `Use it with: netimage login <token> --url ${server.url}`,
      'Lost it? netimage token reset',
    );
  }
  process.stdout.write(lines.join('\n') + '\n');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

async function tokenReset(configFile: string | undefined): Promise<void> {
  const config = loadCliConfig(configFile);
  const store = SqliteStore.open({ path: join(config.dataDir, 'netimage.sqlite') });
  const token = newAdminToken();
  await store.transaction(async (tx) => {
    await tx.deleteAdminTokens();
    await tx.addAdminTokenHash(sha256Hex(token), 'token reset');
  });
  await store.close();
  const saved = await saveCredentials({ url: `http://127.0.0.1:${config.http.port}`, token });
  process.stdout.write(`New admin token (old ones no longer work):\n  ${token}\nSaved for this user's CLI in ${saved}\n`);
}

async function doctor(configFile: string | undefined): Promise<number> {
  let config: Config;
  try {
    config = loadCliConfig(configFile);
  } catch (error) {
    process.stdout.write(`✘ config      ${(error as Error).message}\n`);
    return 1;
  }
  const checks = await runDoctor(config);
  try {
    const store = SqliteStore.open({ path: join(config.dataDir, 'netimage.sqlite') });
    const version = store.schemaVersion;
    await store.close();
    const idx = checks.findIndex((c) => c.name === 'store');
    checks[idx] = { name: 'store', ok: true, detail: `${join(config.dataDir, 'netimage.sqlite')} (schema ${version})` };
  } catch (error) {
    const idx = checks.findIndex((c) => c.name === 'store');
    checks[idx] = { name: 'store', ok: false, detail: (error as Error).message };
  }
  for (const c of checks) process.stdout.write(`${c.ok ? '✔' : '✘'} ${c.name.padEnd(14)} ${c.detail}\n`);
  const failed = checks.filter((c) => !c.ok).length;
  process.stdout.write(failed ? `${failed} problem(s) found\n` : 'all checks passed\n');
  return failed ? 1 : 0;
}

async function followJobs(api: AdminClient, options: { client?: string | undefined; job?: string | undefined }): Promise<void> {
  const q = new URLSearchParams();
  if (options.client) q.set('client', options.client);
  if (options.job) q.set('job', options.job);
  const query = q.size ? `?${q.toString()}` : '';
  process.stdout.write(options.job ? `following job ${options.job} (Ctrl-C to stop)\n` : 'following all jobs (Ctrl-C to stop)\n');
  await api.streamEvents(query, (data) => {
    if ((data as { type?: string }).type === 'wake') {
      const n = data as { ts: string; clientId: string; message: string };
      process.stdout.write(`${n.ts.slice(11, 19)}  ${n.clientId.padEnd(14)} ${n.message}\n`);
      return undefined;
    }
    const e = data as JobLineEvent & { jobId: string };
    process.stdout.write(jobEventLine(e) + '\n');
    if (options.job && e.kind === 'state' && ['succeeded', 'failed', 'exhausted', 'cancelled'].includes(e.state)) return 'stop';
    return undefined;
  });
}

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      mac: { type: 'string' },
      uuid: { type: 'string' },
      group: { type: 'string' },
      description: { type: 'string' },
      prop: { type: 'string', multiple: true },
      request: { type: 'string' },
      client: { type: 'string' },
      job: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      ...OPERATOR_OPTIONS,
    },
  });
  const [cmd, sub, ...rest] = positionals;
  const out = (data: unknown, text: () => string) => process.stdout.write((values.json ? JSON.stringify(data, null, 2) : text()) + '\n');
  if (values.help || !cmd || cmd === 'help') {
    process.stdout.write(USAGE + '\n');
    return cmd || values.help ? 0 : 2;
  }
  switch (cmd) {
    case 'serve':
      await serve(values.config);
      return -1; // keep running
    case 'doctor':
      return doctor(values.config);
    case 'token':
      if (sub !== 'reset') throw new UsageError('usage: netimage token reset');
      await tokenReset(values.config);
      return 0;
    case 'service': {
      const options = { targetDir: values['target-dir'], config: values.config, noEnable: values['no-enable'] };
      if (sub === 'install') process.stdout.write((await installService(options)).join('\n') + '\n');
      else if (sub === 'uninstall') process.stdout.write((await uninstallService(options)).join('\n') + '\n');
      else if (sub === 'status') {
        const s = await serviceStatus(options);
        out(s, () =>
          s.installed
            ? [`installed: ${s.unitPath}`, `  ExecStart=${s.execStart}`, ...(s.enabled !== null ? [`  enabled: ${s.enabled}`, `  active:  ${s.active}`] : [])].join('\n')
            : `not installed (${s.unitPath})`,
        );
        return s.installed ? 0 : 3; // like systemctl status: non-zero when not there
      } else throw new UsageError('usage: netimage service install|uninstall|status [--config FILE] [--target-dir DIR] [--no-enable]');
      return 0;
    }
    case 'login': {
      if (!sub) throw new UsageError('usage: netimage login <admin-token> [--url URL]');
      const api = await adminClient({ url: values.url, token: sub, config: values.config });
      await api.call('GET', '/api/v1/groups');
      const path = await saveCredentials({ url: api.url, token: sub });
      process.stdout.write(`logged in to ${api.url}; saved in ${path}\n`);
      return 0;
    }
  }
  const api = await adminClient(values);
  const operatorResult = await runOperatorCommand(api, positionals, values, out, parseProps);
  if (operatorResult !== null) return operatorResult;
  // Commands of one word whose first argument is a hostname.
  switch (cmd) {
    case 'states': {
      const id = sub;
      if (!id) throw new UsageError('usage: netimage states <hostname>');
      const states = await api.call<{ productId: string; actionRequest: string; installationStatus: string; actionResult: string; actionProgress: string; lastAction: string }[]>('GET', `/api/v1/clients/${encodeURIComponent(id)}/products`);
      out(states, () => table(['PRODUCT', 'REQUEST', 'STATUS', 'RESULT', 'LAST', 'PROGRESS'], states.map((s) => [s.productId, s.actionRequest, s.installationStatus, s.actionResult, s.lastAction, s.actionProgress])));
      return 0;
    }
    case 'inventory': {
      if (!sub) throw new UsageError('usage: netimage inventory <hostname>');
      const inv = await api.call('GET', `/api/v1/clients/${encodeURIComponent(sub)}/inventory`);
      out(inv, () => JSON.stringify(inv, null, 2));
      return 0;
    }
    case 'props': {
      const product = rest[0];
      if (!sub || !product) throw new UsageError('usage: netimage props <hostname> <product> [--prop k=v ...]');
      const path = `/api/v1/clients/${encodeURIComponent(sub)}/products/${encodeURIComponent(product)}/properties`;
      const props = values.prop?.length ? await api.call<Record<string, unknown>>('PUT', path, { values: parseProps(values.prop) }) : await api.call<Record<string, unknown>>('GET', path);
      out(props, () => table(['PROPERTY', 'VALUE'], Object.entries(props).map(([k, v]) => [k, JSON.stringify(v)])));
      return 0;
    }
  }
  switch (`${cmd} ${sub ?? ''}`.trim()) {
    case 'client add': {
      const id = rest[0];
      if (!id) throw new UsageError('usage: netimage client add <hostname> [--mac MAC] [--uuid UUID] [--group G]');
      const c = await api.call('POST', '/api/v1/clients', { id, mac: values.mac ?? null, uuid: values.uuid ?? null, group: values.group ?? null, description: values.description ?? '' });
      out(c, () => `added ${id}`);
      return 0;
    }
    case 'client list': {
      const list = await api.call<{ id: string; mac: string | null; uuid: string | null; group: string | null; description: string; wake?: { status: string } | null }[]>('GET', `/api/v1/clients${values.group ? `?group=${encodeURIComponent(values.group)}` : ''}`);
      // WAKE: the latest Wake-on-LAN (waiting, woke, did_not_wake).
      out(list, () => (list.length ? table(['HOSTNAME', 'MAC', 'SMBIOS UUID', 'GROUP', 'WAKE', 'DESCRIPTION'], list.map((c) => [c.id, c.mac, c.uuid, c.group, c.wake?.status, c.description])) : 'no clients yet: netimage client add <hostname> --mac <MAC>'));
      return 0;
    }
    case 'client show': {
      if (!rest[0]) throw new UsageError('usage: netimage client show <hostname>');
      const c = await api.call('GET', `/api/v1/clients/${encodeURIComponent(rest[0])}`);
      out(c, () => JSON.stringify(c, null, 2));
      return 0;
    }
    case 'client rm': {
      if (!rest[0]) throw new UsageError('usage: netimage client rm <hostname>');
      await api.call('DELETE', `/api/v1/clients/${encodeURIComponent(rest[0])}`);
      out({ removed: rest[0] }, () => `removed ${rest[0]}`);
      return 0;
    }
    case 'client import': {
      if (!rest[0]) throw new UsageError('usage: netimage client import <file.csv>');
      const text = await readFile(rest[0], 'utf8');
      const r = await api.call<{ imported: number }>('POST', '/api/v1/clients/import', text, 'text/csv');
      out(r, () => `imported ${r.imported} client(s)`);
      return 0;
    }
    case 'group add': {
      if (!rest[0]) throw new UsageError('usage: netimage group add <name>');
      const g = await api.call('POST', '/api/v1/groups', { id: rest[0], description: values.description ?? '' });
      out(g, () => `added group ${rest[0]}`);
      return 0;
    }
    case 'group list': {
      const groups = await api.call<{ id: string; description: string; clients: string[] }[]>('GET', '/api/v1/groups');
      out(groups, () => table(['GROUP', 'CLIENTS', 'DESCRIPTION'], groups.map((g) => [g.id, g.clients.length, g.description])));
      return 0;
    }
    case 'product list': {
      const products = await api.call<{ id: string; version: string; destructive: boolean; name: string }[]>('GET', '/api/v1/products');
      out(products, () => table(['PRODUCT', 'VERSION', 'DESTRUCTIVE', 'NAME'], products.map((p) => [p.id, p.version, p.destructive ? 'yes' : 'no', p.name])));
      return 0;
    }
    case 'action set': {
      const target = values.group ? null : rest[0];
      const product = values.group ? rest[0] : rest[1];
      if (!product || (!values.group && !target)) throw new UsageError('usage: netimage action set <hostname|--group G> <product> [--request setup] [--prop k=v]');
      const body = { actionRequest: values.request ?? 'setup', properties: parseProps(values.prop) };
      if (values.group) {
        const r = await api.call<{ clients: string[]; imagefile: string | null }>('POST', `/api/v1/groups/${encodeURIComponent(values.group)}/action`, { productId: product, ...body });
        out(r, () => `${body.actionRequest} of ${product} set for ${r.clients.length} client(s) of ${values.group}${r.imagefile ? ` (image ${r.imagefile})` : ''}: ${r.clients.join(', ')}`);
      } else {
        const r = await api.call('PUT', `/api/v1/clients/${encodeURIComponent(target!)}/products/${encodeURIComponent(product)}/action`, body);
        out(r, () => `${body.actionRequest} of ${product} set for ${target}; it runs at the next network boot`);
      }
      if (values.wake) {
        const text = await wakeAfterAction(api, { client: target ?? undefined, group: values.group });
        out({ wake: text }, () => text);
      }
      return 0;
    }
  }
  if (cmd === 'jobs') {
    if (values.follow || values.job) {
      await followJobs(api, { client: values.client, job: values.job });
      return 0;
    }
    const jobs = await api.call<{ id: string; clientId: string; productId: string; state: string; attempt: number; maxAttempts: number; percent: number | null; updated: string; error: string | null }[]>(
      'GET',
      `/api/v1/jobs${values.client ? `?client=${encodeURIComponent(values.client)}` : ''}`,
    );
    out(jobs, () => (jobs.length ? table(['JOB', 'CLIENT', 'PRODUCT', 'STATE', 'TRY', '%', 'UPDATED', 'ERROR'], jobs.map((j) => [j.id.slice(0, 8), j.clientId, j.productId, j.state, `${j.attempt}/${j.maxAttempts}`, j.percent === null ? null : Math.round(j.percent), j.updated.slice(0, 19).replace('T', ' '), j.error])) : 'no jobs yet'));
    return 0;
  }
  throw new UsageError(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`);
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      if (code >= 0) process.exitCode = code;
    },
    (error: unknown) => {
      if (error instanceof ConfigError) process.stderr.write(error.message + '\n');
      else if (error instanceof UsageError || error instanceof OperatorUsageError || error instanceof ApiError) process.stderr.write(`netimage: ${error.message}\n`);
      else if ((error as NodeJS.ErrnoException).code === 'EACCES' || (error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        process.stderr.write(`netimage: ${(error as Error).message} (run netimage doctor)\n`);
      } else if ((error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') process.stderr.write(`netimage: ${(error as Error).message}\n`);
      else process.stderr.write(`netimage: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = error instanceof UsageError || error instanceof OperatorUsageError ? 2 : 1;
    },
  );
}
