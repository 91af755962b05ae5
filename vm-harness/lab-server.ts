// Our real bootserver (`netimage serve`: DHCP, TFTP, HTTP) as a child process inside a lab's
// network namespace, plus an admin API client for the test process on the host.
//
// The server listens only inside the namespace (on br0's address), and the host has no route into
// it on purpose. The admin client therefore runs `curl` inside the lab (`lab.exec`) for each call:
// ~20 ms per call, no veth/route into the host, nothing to clean up afterwards.
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../bootserver/config/load.ts';
import { openStore } from '../bootserver/server.ts';
import { silentLogger } from '../lib/logger.ts';
import { collectOutput } from './child-output.ts';
import { onProcessExit } from './cleanup.ts';
import type { Lab } from './netns.ts';
import { keptLogFile } from './qemu.ts';
import { bootRootDefault, repoRoot } from './paths.ts';

export interface LabServerOptions {
  /** proxy: beside a site DHCP server; full: we hand out addresses too (no other DHCP server). */
  dhcpMode: 'proxy' | 'full' | 'off';
  /** Host numbers of the full-mode pool (default 100..199). */
  pool?: [number, number];
  httpPort?: number;
  /** boot.maxAttempts (default 3). */
  maxAttempts?: number;
  /** boot.afterJob (default reboot: with QEMU -no-reboot the VM then exits). */
  afterJob?: 'reboot' | 'poweroff';
  /** More NETIMAGE_* environment variables. */
  env?: Record<string, string>;
  bootRoot?: string;
  /** pino level of the server process (default info; its output is kept in log()). */
  logLevel?: 'debug' | 'info' | 'warn';
}

export interface ApiResponse {
  status: number;
  body: any;
  text: string;
}

export interface LabServer {
  /** http://<lab server ip>:<port> (reachable from inside the lab only). */
  readonly url: string;
  readonly pid: number;
  readonly adminToken: string;
  readonly dataDir: string;
  /** Admin API call (path under /api/v1, e.g. '/clients'); JSON body. */
  api(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  /** Like api() but throws unless the status is 2xx; returns the parsed body. */
  call(method: string, path: string, body?: unknown): Promise<any>;
  /** The server's stdout/stderr lines so far (pino JSON lines). */
  log(): string[];
  /** SIGTERM, wait, remove the data dir. Safe to call twice; also run by lab.destroy(). */
  stop(): Promise<void>;
}

/** Environment for `netimage serve` in a lab (pure). */
export function labServerEnv(o: { lab: Pick<Lab, 'serverIp' | 'address'>; dataDir: string; httpPort: number; bootRoot: string } & LabServerOptions): Record<string, string> {
  const [first, last] = o.pool ?? [100, 199];
  const env: Record<string, string> = {
    NETIMAGE_DATA_DIR: o.dataDir,
    NETIMAGE_BOOT_ROOT: o.bootRoot,
    NETIMAGE_ADVERTISED_IP: o.lab.serverIp,
    NETIMAGE_HTTP_HOST: o.lab.serverIp,
    NETIMAGE_HTTP_PORT: String(o.httpPort),
    NETIMAGE_DHCP_MODE: o.dhcpMode,
    NETIMAGE_DHCP_INTERFACE: 'br0',
    NETIMAGE_BOOT_SERIAL_CONSOLE: 'true',
    NETIMAGE_BOOT_MAX_ATTEMPTS: String(o.maxAttempts ?? 3),
    NETIMAGE_BOOT_AFTER_JOB: o.afterJob ?? 'reboot',
    NETIMAGE_LOG_LEVEL: o.logLevel ?? 'info',
  };
  if (o.dhcpMode === 'full') {
    env['NETIMAGE_DHCP_FULL_RANGE_START'] = o.lab.address(first);
    env['NETIMAGE_DHCP_FULL_RANGE_END'] = o.lab.address(last);
  }
  return { ...env, ...o.env };
}

/** Start the server in the lab and wait until its admin API answers. */
export async function startLabServer(lab: Lab, options: LabServerOptions): Promise<LabServer> {
  const dataDir = await mkdtemp(join(tmpdir(), `netimage-labserver-p${process.pid}-`));
  const unregister = onProcessExit(() => rmSync(dataDir, { recursive: true, force: true }));
  const httpPort = options.httpPort ?? 8080;
  const env = labServerEnv({ ...options, lab, dataDir, httpPort, bootRoot: options.bootRoot ?? bootRootDefault() });

  // Create the store and the admin token here, so the test knows the token without scraping the
  // console (the server prints it only on the first start of an empty data dir).
  const config = loadConfig({ env: {}, file: null, overrides: { dataDir } });
  const opened = await openStore(config, silentLogger);
  await opened.store.close();
  const adminToken = opened.initialAdminToken;
  if (!adminToken) throw new Error('a fresh data dir had an admin token already');

  const child = lab.spawn(process.execPath, [join(repoRoot, 'bootserver/cli/main.ts'), 'serve'], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    extendEnv: false,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
  });
  const output = collectOutput(child);
  const url = `http://${lab.serverIp}:${httpPort}`;

  const api: LabServer['api'] = async (method, path, body) => {
    const args = ['-sS', '-X', method, '-H', `authorization: Bearer ${adminToken}`, '-w', '\n%{http_code}', '--max-time', '30'];
    if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', '@-');
    args.push(`${url}/api/v1${path}`);
    const r = await lab.exec('curl', args, body !== undefined ? { input: JSON.stringify(body) } : {});
    const out = String(r.stdout);
    const cut = out.lastIndexOf('\n');
    const text = out.slice(0, cut);
    const status = Number(out.slice(cut + 1));
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON
    }
    return { status, body: parsed, text };
  };

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await child;
    clearTimeout(timer);
    const logFile = await keptLogFile(`server-${lab.netns}`);
    if (logFile) await writeFile(logFile, output.texts().join('\n') + '\n');
    await rm(dataDir, { recursive: true, force: true });
    unregister();
  };
  lab.defer(stop);

  const started = performance.now();
  for (;;) {
    if (output.exited) {
      await stop();
      throw new Error(`the bootserver exited at start:\n${output.texts().slice(-30).join('\n')}`);
    }
    const r = await lab.exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '2', `${url}/api/v1/health`], { reject: false });
    if (String(r.stdout) === '200') break;
    if (performance.now() - started > 90_000) {
      await stop();
      throw new Error(`the bootserver did not answer within 90 s:\n${output.texts().slice(-30).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    url,
    pid: child.pid!,
    adminToken,
    dataDir,
    api,
    async call(method, path, body) {
      const r = await api(method, path, body);
      if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
      return r.body;
    },
    log: () => output.texts(),
    stop,
  };
}
