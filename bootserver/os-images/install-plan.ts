// The install plan an OS install job's agent fetches (GET /agent/v1/os-install), made from the
// job's effective property values, its root filesystem's depot entry and the first-boot token.
// Pure: the service gathers the inputs (service/os-install.ts).
import { AGENT_API_PREFIX, OsInstallPlanSchema, type OsInstallPlan, type PropertyValue } from '../../lib/agent-protocol.ts';
import { DEPOT_HTTP_PREFIX } from '../depot/http.ts';
import type { ManifestFile } from '../depot/manifest.ts';
import { ROOTFS_IMAGE_FILE, ROOTFS_INDEX_FILE } from './build.ts';
import type { ResolvedInstall } from './install-products.ts';
import { sourceLine } from './spec.ts';

/**
 * The installed system's host name from the client id: its first DNS label, lower case, with
 * anything a host name cannot hold made a hyphen (RFC 1123: letters, digits, inner hyphens,
 * at most 63). "PC_01.school.example" becomes "pc-01".
 */
export function hostnameOf(clientId: string): string {
  const label = clientId.split('.')[0]!.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+/, '').slice(0, 63).replace(/-+$/, '');
  return label || 'pc';
}

function text(values: Record<string, PropertyValue>, name: string): string {
  const v = values[name];
  return typeof v === 'string' ? v : '';
}

export interface PlanInput {
  productId: OsInstallPlan['productId'];
  clientId: string;
  /** Effective property values of the job's product; the passwords already hashed. */
  effective: Record<string, PropertyValue>;
  resolved: ResolvedInstall;
  /** The entry's name and its image and chunk index files from the manifest. */
  entryName: string;
  rootfs: { image: ManifestFile; index: ManifestFile };
  /** Base URL the agent reached this server on, e.g. http://10.0.0.1:8080. */
  baseUrl: string;
  firstBootToken: string;
  firstBootExpires: string;
}

export function buildInstallPlan(input: PlanInput): OsInstallPlan {
  const { effective, resolved } = input;
  // Validated on the way out too: the agent parses it with the same schema.
  return OsInstallPlanSchema.parse({
    productId: input.productId,
    os: resolved.spec.os,
    rootfs: {
      image: { path: `${DEPOT_HTTP_PREFIX}/rootfs/${input.entryName}/${ROOTFS_IMAGE_FILE}`, sha256: input.rootfs.image.sha256, size: input.rootfs.image.size },
      index: { path: `${DEPOT_HTTP_PREFIX}/rootfs/${input.entryName}/${ROOTFS_INDEX_FILE}`, sha256: input.rootfs.index.sha256, size: input.rootfs.index.size },
    },
    hostname: hostnameOf(input.clientId),
    language: text(effective, 'language'),
    consoleKeymap: text(effective, 'console_keymap'),
    timezone: text(effective, 'timezone'),
    proxy: resolved.proxy,
    aptSources: resolved.spec.sources.map(sourceLine),
    rootPasswordHash: text(effective, 'root_password'),
    userPasswordHash: text(effective, 'user_password'),
    firstBoot: { url: `${input.baseUrl.replace(/\/+$/, '')}${AGENT_API_PREFIX}/first-boot`, token: input.firstBootToken, expiresAt: input.firstBootExpires },
  });
}
