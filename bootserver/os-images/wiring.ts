// Puts the depot, the root filesystem builder and the install-product checks together for the
// server (one call from server.ts, one from http/app.ts).
import { DepotPuller } from '../depot/pull.ts';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../lib/logger.ts';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/types.ts';
import { AgentSession } from '../service/agent-session.ts';
import { combineActionSetHooks, ConflictError, type ActionSetHook, type NetbootService } from '../service/netboot.ts';
import { Depot, DepotError } from '../depot/depot.ts';
import { registerDepotHttp } from '../depot/http.ts';
import { Uploads } from '../depot/upload.ts';
import { registerUploadHttp } from '../depot/upload-http.ts';
import { wimUploadGrant } from '../depot/wim-upload.ts';
import { goldenReadGrants, goldenUploadGrant } from '../depot/golden-upload.ts';
import { goldenRestoreCheck } from '../depot/golden-restore.ts';
import { readAptSources } from './apt-sources.ts';
import { OsImageBuilder, type BuildRequest } from './build.ts';
import { rootfsEntryName } from './spec.ts';
import { INSTALL_PRODUCTS, InstallPolicy } from './install-products.ts';
import { WindowsInstallPolicy } from './windows-install.ts';
import { PropertySecrets, SECRET_KEY_FILE } from '../products/secret-properties.ts';
import { MirrorChecker } from './mirror.ts';
import { registerOsImagesApi } from './http.ts';
import { OsInstallService } from '../service/os-install.ts';
import { registerOsInstallAgentApi, registerSeedAgentApi } from '../http/agent-api.ts';
import type { ServerAddressConfig } from '../http/public-url.ts';
import { SeedSessions, seedingOnGroupAction } from '../seed/sessions.ts';

export interface OsImages {
  depot: Depot;
  /** Resumable uploads into the depot (captured WIMs). */
  uploads: Uploads;
  builder: OsImageBuilder;
  policy: InstallPolicy;
  /** Unattended Windows: the checks at action set and the media grants (os-images/windows-install.ts). */
  windows: WindowsInstallPolicy;
  /** What NetbootService runs before an action or properties of these products are stored. */
  actionHooks: ActionSetHook;
  /** The install flow (plan, first boot, timeouts, builds on action set); set by startOsInstalls. */
  installs: OsInstallService | null;
  /** Pulls from the main server's depot (config depot.upstream); null without one. */
  puller: DepotPuller | null;
  /** Room seeding sessions (bootserver/seed/sessions.ts), started by group restores. */
  seeding: SeedSessions;
  /** How installed systems are told to reach this server (config http.publicUrl, advertisedIp). */
  address: ServerAddressConfig;
}

/**
 * Start the install flow once the service exists: the boot decision waits for root filesystem
 * builds, a failed build fails the actions waiting for it, overdue first boots time out.
 */
export function startOsInstalls(osImages: OsImages, service: NetbootService, log: Logger): OsInstallService {
  const installs = new OsInstallService({ service, depot: osImages.depot, builder: osImages.builder, policy: osImages.policy, windows: osImages.windows, log, puller: osImages.puller });
  service.useBootGate(installs);
  // Room seeding: a group restore with server_image_multicast starts the room's stream.
  service.onGroupAction(seedingOnGroupAction(osImages.seeding, log));
  osImages.builder.onFinished((build) => {
    if (build.state === 'failed') installs.buildFailed(build).catch((error: unknown) => log.error({ err: error, build: build.id }, 'failing the actions of a failed build failed'));
  });
  installs.start();
  osImages.installs = installs;
  return installs;
}

export function depotDir(config: Config): string {
  return config.depot.dir ?? join(config.dataDir, 'depot');
}

export async function openOsImages(config: Config, log: Logger): Promise<OsImages> {
  const depot = await Depot.open(depotDir(config));
  const uploads = new Uploads(depot);
  for (const id of await uploads.expire()) log.info({ upload: id }, 'removed an expired upload');
  const builder = new OsImageBuilder({ depot, log });
  const { url, token } = config.depot.upstream;
  const puller = url && token ? new DepotPuller(depot, { url, token }) : null;
  const builds = puller ? pullingBuilds(puller, log) : builder;
  const policy = new InstallPolicy({ aptSources: await readAptSources(config.osImages.aptSources), mirror: config.osImages.mirror, mirrors: new MirrorChecker(), builds });
  // The Windows passwords' key beside the store (the data dir is the server's private state).
  const windows = new WindowsInstallPolicy(depot, new PropertySecrets(join(config.dataDir, SECRET_KEY_FILE)));
  const seeding = new SeedSessions({ depot, log: log.child({ component: 'seeding' }), config: config.seeding });
  return { depot, uploads, builder, policy, windows, actionHooks: combineActionSetHooks([policy, windows, goldenRestoreCheck(depot)]), installs: null, puller, seeding, address: { publicUrl: config.http.publicUrl, advertisedIp: config.advertisedIp } };
}

/**
 * A site server builds no root filesystems: setting an install action checks that the main
 * server has the entry (else 409, nothing changed) and starts pulling it, so it is here, and
 * PCs read it at their own site, by the time they boot.
 */
export function pullingBuilds(puller: DepotPuller, log: Logger): { ensure(request: BuildRequest): Promise<void> } {
  return {
    async ensure(request) {
      const name = rootfsEntryName(request.spec);
      try {
        await puller.startPull('rootfs', name, (error) => log.error({ err: error, entry: `rootfs/${name}` }, 'pulling a depot entry from the main server failed'));
      } catch (error) {
        if (error instanceof DepotError && error.kind === 'not_found') {
          throw new ConflictError(`the main server (${puller.upstream.url}) has no root filesystem rootfs/${name}: build it there first (netimage os build ${request.spec.os}); this site server pulls it from there. Nothing was changed.`);
        }
        throw error;
      }
    },
  };
}

export async function registerOsImagesHttp(app: FastifyInstance, osImages: OsImages, deps: { store: Store; service: NetbootService }): Promise<void> {
  const { service } = deps;
  const agent = new AgentSession(service);
  await registerDepotHttp(app, {
    depot: osImages.depot,
    puller: osImages.puller,
    store: deps.store,
    jobForToken: (token) => agent.jobOfToken(token),
    // A job reads the root filesystem its install product's properties name, its Windows media, or the golden image its restore fetches; nothing else.
    grants: async (job) => {
      const properties = await service.effectiveProperties(job.clientId, job.productId);
      return [...osImages.policy.grantsFor(job.productId, properties), ...osImages.windows.grantsFor(job.productId), ...goldenReadGrants(job, properties)];
    },
    readers: {
      readsCapturedWim: (productId, effective) => osImages.windows.readsCapturedWim(productId, effective),
      rootfs: { products: Object.keys(INSTALL_PRODUCTS), entryOf: (productId, effective) => osImages.policy.grantsFor(productId, effective)[0] ?? null },
    },
  });
  await registerUploadHttp(app, {
    uploads: osImages.uploads,
    jobForToken: (token) => agent.jobOfToken(token),
    grant: async (job) => {
      const properties = await service.effectiveProperties(job.clientId, job.productId);
      return wimUploadGrant(job, properties) ?? goldenUploadGrant(job, properties);
    },
  });
  await registerOsImagesApi(app, { store: deps.store, builder: osImages.builder, policy: osImages.policy });
  await registerSeedAgentApi(app, { seeding: osImages.seeding, service, agent });
  if (osImages.installs) await registerOsInstallAgentApi(app, { installs: osImages.installs, address: osImages.address });
}
