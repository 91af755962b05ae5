// The staging plan an unattended Windows job's agent fetches (GET /agent/v1/windows-install), made
// from the job's effective property values, its media's depot manifest and the completion token.
// Pure: the service gathers the inputs (service/os-install.ts).
import { AGENT_API_PREFIX, WindowsInstallPlanSchema, type PropertyValue, type WindowsInstallPlan } from '../../lib/agent-protocol.ts';
import { DEPOT_HTTP_PREFIX } from '../depot/http.ts';
import type { DepotManifest } from '../depot/manifest.ts';
import { hostnameOf } from './install-plan.ts';
import { CAPTURED_WIM_KIND, WINDOWS_MEDIA_KIND, type Edition } from './windows-install.ts';
import { WIM_UPLOAD_PATH } from '../depot/wim-upload.ts';

/** Properties the answer file is made of (lib/unattend-values.ts reads these names). */
export const UNATTEND_PROPERTIES = [
  'imagename',
  'productkey',
  'language',
  'system_keyboard_layout',
  'system_language',
  'system_timezone',
  'administrator_password',
  'orgname',
  'fullname',
  'workgroup',
  'domain_name',
  'domain_user',
  'domain_password',
  'domain_ou',
] as const;

export interface WindowsPlanInput {
  productId: WindowsInstallPlan['productId'];
  clientId: string;
  effective: Record<string, PropertyValue>;
  manifest: DepotManifest;
  edition: Edition;
  /** The captured WIM's manifest when the edition is its (windows-install.ts resolve). */
  captured?: DepotManifest | null;
  baseUrl: string;
  token: string;
  expires: string;
}

/** The medium's install images: left out when the captured WIM is installed instead (setup would take install.wim|swm|esd, whichever it finds). */
const MEDIUM_INSTALL_IMAGE = /^installfiles\/sources\/install\.(wim|esd|swm)$/i;

export function buildWindowsPlan(input: WindowsPlanInput): WindowsInstallPlan {
  const unattend = Object.fromEntries(UNATTEND_PROPERTIES.filter((p) => input.effective[p] !== undefined).map((p) => [p, input.effective[p]!]));
  const wim = input.captured?.files.find((f) => f.path === WIM_UPLOAD_PATH);
  if (input.captured && !wim) throw new Error(`${CAPTURED_WIM_KIND}/${input.captured.name} has no ${WIM_UPLOAD_PATH}`);
  // Validated on the way out too: the agent parses it with the same schema.
  return WindowsInstallPlanSchema.parse({
    productId: input.productId,
    media: {
      base: `${DEPOT_HTTP_PREFIX}/${WINDOWS_MEDIA_KIND}/${input.manifest.name}`,
      files: input.manifest.files.filter((f) => /^(winpe|installfiles|drivers|custom)\//.test(f.path) && !(wim && MEDIUM_INSTALL_IMAGE.test(f.path))),
    },
    ...(wim ? { installImage: { base: `${DEPOT_HTTP_PREFIX}/${CAPTURED_WIM_KIND}/${input.captured!.name}`, file: wim } } : {}),
    imageIndex: input.edition.index,
    hostname: hostnameOf(input.clientId),
    unattend,
    completion: { url: `${input.baseUrl.replace(/\/+$/, '')}${AGENT_API_PREFIX}/first-boot`, token: input.token, expiresAt: input.expires },
  });
}
