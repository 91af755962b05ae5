// Starts the UDP protocol adapters (TFTP, DHCP) next to HTTP. TFTP serves the boot root plus
// the generated Grub configs from the same responder HTTP uses.
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { Logger } from '../lib/logger.ts';
import type { Config } from './config/schema.ts';
import { ConfigError } from './config/load.ts';
import type { BootConfigResponder } from './boot/config-responder.ts';
import { startTftpServer, type TftpServer, type TftpServerStats } from './tftp/server.ts';
import { chainFileSources, diskFileSource, virtualFileSource } from './tftp/files.ts';
import { startDhcpServer, type DhcpServer, type DhcpServerStats } from './dhcp/server.ts';
import { DHCP_LEASES_SCHEMA_SQL, SqliteLeaseStore } from './dhcp/leases.ts';
import { makePrivateDir, touchPrivateFile } from './store/private-files.ts';

export interface ProtocolServers {
  tftpPort: number | null;
  dhcp: boolean;
  stop(): Promise<void>;
  /** Counters of the running listeners (null: not running), for /metrics. */
  stats(): { tftp: TftpServerStats | null; dhcp: DhcpServerStats | null };
}

/** DHCP leases live in their own file: lease writes are synchronous and must never wait on the main store's transactions. */
function openLeaseStore(dataDir: string): { leases: SqliteLeaseStore; db: DatabaseSync } {
  makePrivateDir(dataDir);
  touchPrivateFile(join(dataDir, 'dhcp-leases.sqlite'));
  const db = new DatabaseSync(join(dataDir, 'dhcp-leases.sqlite'));
  db.exec('PRAGMA journal_mode = WAL');
  db.exec(DHCP_LEASES_SCHEMA_SQL);
  return { leases: new SqliteLeaseStore(db), db };
}

export async function startProtocolServers(options: { config: Config; responder: BootConfigResponder; log: Logger; serverIp: string | null }): Promise<ProtocolServers> {
  const { config, responder, log } = options;
  let tftp: TftpServer | null = null;
  let dhcp: DhcpServer | null = null;
  let leaseDb: DatabaseSync | null = null;
  const stop = async () => {
    await dhcp?.stop();
    await tftp?.stop();
    leaseDb?.close();
    dhcp = null;
    tftp = null;
    leaseDb = null;
  };
  try {
    if (config.tftp.enabled) {
      const source = chainFileSources(
        virtualFileSource((path, remote) => responder.respond(path, { address: remote.address })),
        diskFileSource(config.paths.bootRoot),
      );
      tftp = await startTftpServer({
        host: config.tftp.host,
        port: config.tftp.port,
        source,
        log: log.child({ component: 'tftp' }),
        maxBlksize: config.tftp.maxBlksize,
        maxWindowsize: config.tftp.maxWindowsize,
      });
    }
    if (config.dhcp.mode !== 'off') {
      if (!options.serverIp) {
        throw new ConfigError('config error: advertisedIp: no IPv4 address found to hand out as boot server; set advertisedIp (NETIMAGE_ADVERTISED_IP) or dhcp.mode off');
      }
      // config.dhcp was validated by the DHCP module's own schema when the config was loaded.
      const dhcpConfig = { ...config.dhcp, serverIp: options.serverIp };
      // The DHCP module names its own component in its log lines.
      const deps: Parameters<typeof startDhcpServer>[1] = { logger: log };
      if (config.dhcp.mode === 'full') {
        const opened = openLeaseStore(config.dataDir);
        leaseDb = opened.db;
        deps.leaseStore = opened.leases;
      }
      dhcp = await startDhcpServer(dhcpConfig, deps);
    }
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  const stats = () => ({ tftp: (tftp as TftpServer | null)?.stats() ?? null, dhcp: (dhcp as DhcpServer | null)?.stats() ?? null });
  return { tftpPort: tftp ? (tftp as TftpServer).port : null, dhcp: dhcp !== null, stop, stats };
}
