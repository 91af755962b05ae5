// The bootserver process: one store, one domain service, and the protocol adapters around it
// (HTTP now; TFTP and DHCP are started here too when enabled). Serve()/stop() like Pixiecore.
import { join } from 'node:path';
import { networkInterfaces } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../lib/logger.ts';
import type { Config } from './config/schema.ts';
import { openConfiguredStore } from './store/open.ts';
import { tightenPrivateTree } from './store/private-files.ts';
import { lockDataDir } from './store/data-dir-lock.ts';
import type { Store } from './store/types.ts';
import type { SqlStore } from './store/sql-store.ts';
import { loadCatalogue } from './products/catalogue.ts';
import { JobEventBus } from './service/event-bus.ts';
import { NetbootService } from './service/netboot.ts';
import { AdminService } from './service/admin.ts';
import { EventTickets } from './service/event-tickets.ts';
import { newAdminToken, newServerSecret, sha256Hex } from './service/tokens.ts';
import { GrubRenderer } from './boot/grub-render.ts';
import { BootConfigResponder } from './boot/config-responder.ts';
import { buildHttpApp } from './http/app.ts';
import { startProtocolServers, type ProtocolServers } from './protocols.ts';
import { ClientNoticeBus } from './service/event-bus.ts';
import { WakeService } from './wol/service.ts';
import { Scheduler, systemClock } from './schedules/scheduler.ts';
import { scheduleAction } from './schedules/action.ts';
import { ServerMetrics } from './metrics/metrics.ts';
import { openOsImages, startOsInstalls, type OsImages } from './os-images/wiring.ts';
import { watchStalls } from './stall-watch.ts';
import { NETIMAGE_VERSION } from './version.ts';

export { NETIMAGE_VERSION };

/**
 * How long a stopping server lets HTTP requests under way finish before it cuts them: API calls
 * end in milliseconds, but a download (a stage 2, a depot image of gigabytes) would hold the stop
 * for as long as it lasts. The boot image and the agent fetch again (with Range where they resume).
 */
export const STOP_GRACE_MS = 5_000;

/** Close the HTTP server: new connections refused, what is under way given STOP_GRACE_MS, then cut. */
async function closeHttp(http: FastifyInstance, log: Logger): Promise<void> {
  const cut = setTimeout(() => {
    log.warn(`stopping: HTTP transfers still running after ${STOP_GRACE_MS / 1000} s are cut (their clients fetch again)`);
    http.server.closeAllConnections();
  }, STOP_GRACE_MS);
  try {
    await http.close();
  } finally {
    clearTimeout(cut);
  }
}

export interface BootServer {
  config: Config;
  store: Store;
  service: NetbootService;
  responder: BootConfigResponder;
  http: FastifyInstance;
  /** Base URL of the HTTP server as reachable from this machine. */
  url: string;
  httpPort: number;
  /** Set only on the very first start: the admin token, shown once. */
  initialAdminToken: string | null;
  protocols: ProtocolServers;
  wake: WakeService;
  scheduler: Scheduler;
  osImages: OsImages;
  stop(): Promise<void>;
}

/** Open the store, load the catalogue and make sure the server secret and an admin token exist. */
export async function openStore(config: Config, log: Logger): Promise<{ store: SqlStore; serverSecret: string; initialAdminToken: string | null }> {
  const tightened = tightenPrivateTree(config.dataDir);
  if (tightened.length) {
    log.warn({ dataDir: config.dataDir, tightened }, `tightened file modes in the data dir (it holds the server secret): ${tightened.map((x) => `${x.path} was ${x.was}`).join(', ')}`);
  }
  const store = await openConfiguredStore(config);
  for (const product of loadCatalogue(config.paths.products)) await store.upsertProduct(product);
  // One transaction: servers sharing a PostgreSQL store that start at once create one secret and one first token.
  const { serverSecret, initialAdminToken } = await store.transaction(async (tx) => {
    let secret = await tx.getMeta('server_secret');
    if (!secret) {
      secret = newServerSecret();
      await tx.setMeta('server_secret', secret);
    }
    let token: string | null = null;
    if ((await tx.countAdminTokens()) === 0) {
      token = newAdminToken();
      await tx.addAdminTokenHash(sha256Hex(token), 'created at first start');
    }
    return { serverSecret: secret, initialAdminToken: token };
  });
  if (initialAdminToken) log.info('created the admin token (shown once on the console)');
  return { store, serverSecret, initialAdminToken };
}

/** First non-internal IPv4 address: what clients most likely reach us on. */
export function guessAdvertisedIp(): string | null {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

export async function startBootServer(config: Config, log: Logger): Promise<BootServer> {
  // Before anything touches the data dir: a second server on it must not run the depot's recovery.
  const dataDirLock = lockDataDir(config.dataDir);
  try {
    return await startLocked(config, log, dataDirLock.release);
  } catch (error) {
    dataDirLock.release();
    throw error;
  }
}

async function startLocked(config: Config, log: Logger, releaseDataDir: () => void): Promise<BootServer> {
  // The depot first: its recovery unmounts and removes what a killed build left in the data dir
  // before openStore walks the data dir to tighten modes.
  const osImages = await openOsImages(config, log.child({ component: 'os-images' }));
  const { store, serverSecret, initialAdminToken } = await openStore(config, log);
  const stalls = watchStalls({ log: log.child({ component: 'server' }) });
  const bus = new JobEventBus();
  // Other servers' job events on a shared PostgreSQL store reach this server's listeners too.
  const remoteEvents = await store.listenJobEvents(log.child({ component: 'events' }), (e) => bus.publish(e)).catch(async (error: unknown) => {
    stalls.stop();
    await store.close();
    throw error;
  });
  const service = new NetbootService({ store, config, bus, log: log.child({ component: 'netboot' }), serverSecret, actionSetHook: osImages.actionHooks });
  const installs = startOsInstalls(osImages, service, log.child({ component: 'os-install' }));
  const admin = new AdminService({ store, netboot: service, bus, productView: (p) => osImages.windows.withImageChoices(p) });
  const renderer = new GrubRenderer(config.paths.templates, config.boot.hostIdentifiers);
  // Operator features: Wake-on-LAN (docs/admin-guide.md).
  const notices = new ClientNoticeBus();
  const wake = new WakeService({ store, config, log: log.child({ component: 'wake' }), notices, serverIp: config.advertisedIp ?? guessAdvertisedIp() });
  const responder = new BootConfigResponder({ service, renderer, config, log: log.child({ component: 'boot-config' }), onClientConfigRead: (id) => wake.clientSeen(id) });
  const scheduler = new Scheduler({ store, action: scheduleAction({ service, wake }), log: log.child({ component: 'scheduler' }), clock: systemClock });
  let protocols: ProtocolServers | null = null;
  let listening = false;
  const metrics = config.metrics.enabled ? new ServerMetrics({ store, bus, protocolStats: () => protocols?.stats() ?? { tftp: null, dhcp: null } }) : null;
  const listeners = () => ({
    http: listening,
    tftp: config.tftp.enabled ? protocols?.stats().tftp != null : null,
    dhcp: config.dhcp.mode !== 'off' ? protocols?.stats().dhcp != null : null,
    scheduler: config.schedules.enabled ? scheduler.running : null,
  });
  const operator = { wake, notices, scheduler, clock: systemClock, metrics, metricsToken: config.metrics.token, listeners, version: NETIMAGE_VERSION };
  const http = await buildHttpApp({ store, service, admin, tickets: new EventTickets(), responder, bootRoot: config.paths.bootRoot, log: log.child({ component: 'http' }), version: NETIMAGE_VERSION, osImages, operator, sessions: { idleMinutes: config.auth.sessionIdleMinutes, absoluteHours: config.auth.sessionMaxHours, secureCookie: config.auth.secureCookie, scryptLog2N: config.auth.scryptLog2N } });
  try {
    await http.listen({ host: config.http.host, port: config.http.port });
    listening = true;
    const address = http.server.address();
    const httpPort = typeof address === 'object' && address ? address.port : config.http.port;
    // Boot configs carry the real port (tests ask for port 0).
    config.http.port = httpPort;
    protocols = await startProtocolServers({ config, responder, log, serverIp: config.advertisedIp ?? guessAdvertisedIp() });
    wake.start();
    if (config.schedules.enabled) await scheduler.start();
    const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
    const server: BootServer = {
      config,
      store,
      service,
      responder,
      http,
      url: `http://${host}:${httpPort}`,
      httpPort,
      initialAdminToken,
      protocols,
      wake,
      scheduler,
      osImages,
      async stop() {
        installs.stop();
        osImages.seeding.stopAll();
        await osImages.builder.stop();
        metrics?.close();
        await scheduler.stop();
        await wake.stop();
        await protocols?.stop();
        await closeHttp(http, log);
        await remoteEvents?.close();
        await store.close();
        stalls.stop();
        releaseDataDir();
      },
    };
    return server;
  } catch (error) {
    installs.stop();
    metrics?.close();
    await scheduler.stop();
    await wake.stop();
    await protocols?.stop().catch(() => undefined);
    await http.close().catch(() => undefined);
    await remoteEvents?.close();
    await store.close().catch(() => undefined);
    stalls.stop();
    throw error;
  }
}
