// `netimage service install|uninstall|status`: a systemd unit that runs this checkout's server
// with this checkout's Node, restarts it on failure and logs to the journal. The first-start
// admin token never reaches the journal: `serve` whose stdout is the journal (JOURNAL_STREAM names
// it) writes it only to root's credentials file (0600) and logs where.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { runAllowFailure } from '../../lib/process.ts';

export const UNIT_NAME = 'netimage.service';
export const SYSTEM_UNIT_DIR = '/etc/systemd/system';

export interface UnitOptions {
  /** Node binary (this checkout's Node 24). */
  node: string;
  /** The checkout (NETIMAGE_ROOT). */
  checkout: string;
  /** Config file given to serve; null = defaults and /etc/netimage/netimage.yaml if present. */
  config: string | null;
}

/** systemd command-line quoting: wrap in double quotes, escape backslash and quote; refuse what systemd would misread. */
function quoteArg(arg: string): string {
  if (/[\n\r\0]/.test(arg)) throw new Error(`path with a line break or NUL cannot go into a unit file: ${JSON.stringify(arg)}`);
  // "%" starts a specifier in unit files; "$" an environment variable.
  const escaped = arg.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /[\s"\\'%$;]/.test(arg) ? `"${escaped}"` : escaped;
}

/** The unit file. Pure. */
export function renderUnit(options: UnitOptions): string {
  const exec = [options.node, join(options.checkout, 'bootserver', 'cli', 'main.ts'), 'serve', ...(options.config ? ['--config', options.config] : [])].map(quoteArg).join(' ');
  return `# Written by 'netimage service install'; 'netimage service uninstall' removes it.
[Unit]
Description=netimage netboot and imaging server (DHCP/TFTP/HTTP)
Documentation=file://${join(options.checkout, 'docs', 'admin-guide.md').replace(/%/g, '%%')}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=${exec}
WorkingDirectory=${quoteArg(options.checkout)}
Environment=${quoteArg(`NETIMAGE_ROOT=${options.checkout}`)}
Restart=on-failure
RestartSec=5
# stdout/stderr go to the journal (journalctl -u netimage); serve sees JOURNAL_STREAM and keeps
# the first-start admin token out of it.
StandardOutput=journal
StandardError=journal
SyslogIdentifier=netimage
# DHCP (67), TFTP (69) and the PXE port need root or CAP_NET_BIND_SERVICE; the server runs as root
# like the other commands of this checkout.
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
`;
}

export interface ServiceCommandOptions {
  /** Directory for the unit; the default is the real systemd directory (then systemctl is run). */
  targetDir?: string | undefined;
  config?: string | undefined;
  /** Write the unit but do not enable/start it. */
  noEnable?: boolean | undefined;
  node?: string;
  checkout?: string;
  /** systemctl runner (tests); default runs the real one, only for the real unit directory. */
  systemctl?: (args: string[]) => Promise<{ exitCode: number; stdout: string; stderr: string }>;
}

const realSystemctl = (args: string[]) => runAllowFailure('systemctl', args);

function resolveOptions(o: ServiceCommandOptions) {
  const targetDir = resolve(o.targetDir ?? SYSTEM_UNIT_DIR);
  // systemctl only acts on the real directory: a test root must never enable anything here.
  const manages = targetDir === SYSTEM_UNIT_DIR;
  return { targetDir, unitPath: join(targetDir, UNIT_NAME), manages, systemctl: o.systemctl ?? realSystemctl };
}

async function systemctlOrThrow(systemctl: NonNullable<ServiceCommandOptions['systemctl']>, args: string[]): Promise<void> {
  const r = await systemctl(args);
  if (r.exitCode !== 0) throw new Error(`systemctl ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
}

/** Write (or update) the unit; enable and start it when it is the real unit directory. Returns lines to print. */
export async function installService(o: ServiceCommandOptions): Promise<string[]> {
  const { targetDir, unitPath, manages, systemctl } = resolveOptions(o);
  const config = o.config ? resolve(o.config) : existsSync('/etc/netimage/netimage.yaml') ? '/etc/netimage/netimage.yaml' : null;
  if (config && !existsSync(config)) throw new Error(`config file ${config} does not exist`);
  const unit = renderUnit({ node: o.node ?? process.execPath, checkout: o.checkout ?? process.env['NETIMAGE_ROOT'] ?? resolve(import.meta.dirname, '..', '..'), config });
  const previous = existsSync(unitPath) ? await readFile(unitPath, 'utf8') : null;
  await mkdir(targetDir, { recursive: true });
  await writeFile(unitPath, unit, { mode: 0o644 });
  const lines = [`${previous === null ? 'wrote' : previous === unit ? 'unchanged' : 'updated'} ${unitPath}`];
  if (!manages) {
    lines.push(`not the system unit directory: enable it yourself (systemctl enable --now ${UNIT_NAME})`);
  } else if (o.noEnable) {
    await systemctlOrThrow(systemctl, ['daemon-reload']);
    lines.push(`not enabled (--no-enable): systemctl enable --now ${UNIT_NAME}`);
  } else {
    await systemctlOrThrow(systemctl, ['daemon-reload']);
    await systemctlOrThrow(systemctl, ['enable', '--now', UNIT_NAME]);
    lines.push(`enabled and started ${UNIT_NAME}: it starts again at every boot (journalctl -u netimage for its log)`);
  }
  lines.push('On its very first start the server writes the admin token only to /root/.config/netimage/credentials.json (0600), never to the journal.');
  return lines;
}

export async function uninstallService(o: ServiceCommandOptions): Promise<string[]> {
  const { unitPath, manages, systemctl } = resolveOptions(o);
  if (!existsSync(unitPath)) return [`not installed (${unitPath} does not exist)`];
  const lines: string[] = [];
  if (manages) {
    await systemctlOrThrow(systemctl, ['disable', '--now', UNIT_NAME]);
    lines.push(`stopped and disabled ${UNIT_NAME}`);
  }
  await rm(unitPath);
  if (manages) await systemctlOrThrow(systemctl, ['daemon-reload']);
  lines.push(`removed ${unitPath} (data and config are kept)`);
  return lines;
}

export interface ServiceStatus {
  unitPath: string;
  installed: boolean;
  execStart: string | null;
  /** systemctl is-enabled / is-active (real unit directory only). */
  enabled: string | null;
  active: string | null;
}

export async function serviceStatus(o: ServiceCommandOptions): Promise<ServiceStatus> {
  const { unitPath, manages, systemctl } = resolveOptions(o);
  const installed = existsSync(unitPath);
  const execStart = installed ? (/^ExecStart=(.*)$/m.exec(await readFile(unitPath, 'utf8'))?.[1] ?? null) : null;
  let enabled: string | null = null;
  let active: string | null = null;
  if (manages && installed) {
    enabled = (await systemctl(['is-enabled', UNIT_NAME])).stdout.trim() || 'unknown';
    active = (await systemctl(['is-active', UNIT_NAME])).stdout.trim() || 'unknown';
  }
  return { unitPath, installed, execStart, enabled, active };
}
