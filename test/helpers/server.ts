// Test helper: a real bootserver (real SQLite store, real HTTP on 127.0.0.1, random port) in a
// temp data dir, plus a small admin client and a way to get a job the way grub would.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../bootserver/config/load.ts';
import { startBootServer, type BootServer } from '../../bootserver/server.ts';
import { createLogger } from '../../lib/logger.ts';
import { KERNEL_ARGS } from '../../lib/agent-protocol.ts';

export interface TestServer {
  server: BootServer;
  url: string;
  adminToken: string;
  dataDir: string;
  /** Admin API call with the admin token; body is JSON unless a string (sent as text/csv). */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; text: string }>;
  stop(): Promise<void>;
}

export interface StartTestServerOptions {
  /** Config keys to set, e.g. { 'boot.maxAttempts': 2 }. */
  overrides?: Record<string, unknown>;
  /** Reuse a data dir (restart scenarios); default a fresh temp dir. */
  dataDir?: string;
  /** Fixed HTTP port (restart scenarios); default a free one. */
  httpPort?: number;
  /** Also run TFTP on 127.0.0.1 (a free port: server.protocols.tftpPort). */
  tftp?: boolean;
}

export async function startTestServer(options: StartTestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'netimage-test-')));
  const ownsDir = options.dataDir === undefined;
  let server: BootServer;
  try {
    const config = loadConfig({
      env: {},
      file: null,
      overrides: {
        dataDir,
        'http.host': '127.0.0.1',
        'http.port': options.httpPort ?? 0,
        'tftp.enabled': options.tftp ?? false,
        'tftp.host': '127.0.0.1',
        'tftp.port': 0,
        'dhcp.mode': 'off',
        ...options.overrides,
      },
    });
    const log = createLogger({ level: (process.env['NETIMAGE_TEST_LOG'] as 'debug' | undefined) ?? 'silent' });
    server = await startBootServer(config, log);
  } catch (error) {
    // A start a test expects to fail (a bad config value) leaves no data dir of ours behind.
    if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const adminToken = server.initialAdminToken ?? (await resetAdminToken(server));
  const api: TestServer['api'] = async (method, path, body, headers = {}) => {
    const init: RequestInit = { method, headers: { authorization: `Bearer ${adminToken}`, ...headers } };
    if (body !== undefined) {
      if (typeof body === 'string') {
        init.body = body;
        (init.headers as Record<string, string>)['content-type'] ??= 'text/csv';
      } else {
        init.body = JSON.stringify(body);
        (init.headers as Record<string, string>)['content-type'] = 'application/json';
      }
    }
    const res = await fetch(server.url + path, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed, text };
  };
  return {
    server,
    url: server.url,
    adminToken,
    dataDir,
    api,
    async stop() {
      // The data dir goes even when the server was stopped already (a test that stops it itself).
      try {
        await server.stop();
      } finally {
        if (ownsDir) await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** Restarted servers on an existing data dir have no initial token: make a fresh one for the test. */
async function resetAdminToken(server: BootServer): Promise<string> {
  const { newAdminToken, sha256Hex } = await import('../../bootserver/service/tokens.ts');
  const token = newAdminToken();
  await server.store.addAdminTokenHash(sha256Hex(token), 'test');
  return token;
}

export interface IssuedJob {
  jobId: string;
  token: string;
  attempt: number;
  /** The Grub config text the client got. */
  grubConfig: string;
  /** netimage.* kernel arguments from the config, with the server URL as the caller says the guest reaches it. */
  kernelCmdline(serverUrl: string): string;
}

/** Path grub asks for (see templates/grub/grub.cfg.hbs). */
export function clientConfigPath(mac: string | null, uuid: string | null, firmware: 'efi' | 'pc' = 'efi'): string {
  return `/boot/grub/client/${firmware}/mac-${mac ?? ''}/uuid-${uuid ?? ''}.cfg`;
}

/** Read a client's boot config over HTTP as grub would; returns the text. */
export async function readBootConfig(ts: TestServer, mac: string | null, uuid: string | null, firmware: 'efi' | 'pc' = 'efi'): Promise<string> {
  const res = await fetch(ts.url + clientConfigPath(mac, uuid, firmware));
  if (res.status !== 200) throw new Error(`boot config request failed: ${res.status}`);
  return res.text();
}

/** Parse the job id and token out of a rendered netboot config. */
export function parseNetbootConfig(config: string): { jobId: string; token: string; attempt: number } | null {
  const job = new RegExp(`${KERNEL_ARGS.job.replace('.', '\\.')}=([0-9a-f-]{36})`).exec(config);
  const token = new RegExp(`${KERNEL_ARGS.token.replace('.', '\\.')}=([0-9a-f]{32})`).exec(config);
  const attempt = /attempt (\d+) of/.exec(config);
  if (!job || !token) return null;
  return { jobId: job[1]!, token: token[1]!, attempt: Number(attempt?.[1] ?? 1) };
}

/**
 * Register a client (if needed), set an action request and read its boot config the way grub
 * does, which creates the job. Returns the job id and one-time token.
 */
export async function issueJob(
  ts: TestServer,
  options: { clientId: string; mac: string | null; uuid?: string | null; productId: string; properties?: Record<string, unknown>; group?: string },
): Promise<IssuedJob> {
  const existing = await ts.api('GET', `/api/v1/clients/${options.clientId}`);
  if (existing.status === 404) {
    const created = await ts.api('POST', '/api/v1/clients', { id: options.clientId, mac: options.mac, uuid: options.uuid ?? null, ...(options.group ? { group: options.group } : {}) });
    if (created.status !== 201) throw new Error(`client create failed: ${created.status} ${created.text}`);
  }
  const action = await ts.api('PUT', `/api/v1/clients/${options.clientId}/products/${options.productId}/action`, { actionRequest: 'setup', properties: options.properties ?? {} });
  if (action.status !== 200) throw new Error(`action request failed: ${action.status} ${action.text}`);
  const grubConfig = await readBootConfig(ts, options.mac, options.uuid ?? null);
  const parsed = parseNetbootConfig(grubConfig);
  if (!parsed) throw new Error(`the boot config is not a netboot config:\n${grubConfig}`);
  return {
    ...parsed,
    grubConfig,
    kernelCmdline(serverUrl: string) {
      const args = [`${KERNEL_ARGS.server}=${serverUrl}`, `${KERNEL_ARGS.job}=${parsed.jobId}`, `${KERNEL_ARGS.token}=${parsed.token}`];
      if (options.mac) args.push(`${KERNEL_ARGS.mac}=${options.mac}`);
      return args.join(' ');
    },
  };
}

/** Agent API call with a job token. */
export async function agentCall(url: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const init: RequestInit = { method, headers: { authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    if (typeof body === 'string') {
      init.body = body;
      (init.headers as Record<string, string>)['content-type'] = 'text/plain';
    } else {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
  }
  const res = await fetch(`${url}/agent/v1${path}`, init);
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // keep text
  }
  return { status: res.status, body: parsed };
}
