// "This machine wants to boot: what?" as a pure decision (Pixiecore's Booter idea).
// Inputs are what the store knows; the output is a small decision the protocol adapters render.
import type { ActionRequest } from '../../lib/agent-protocol.ts';
import type { Firmware } from '../../lib/firmware.ts';
import { ProductId } from '../../lib/products.ts';
import { isPendingRequest } from '../jobs/lifecycle.ts';
import type { HostIdentifier } from '../config/schema.ts';
import type { Client, ProductDefinition, ProductOnClient } from '../store/types.ts';

export interface BootRequest {
  mac: string | null;
  uuid: string | null;
  firmware: Firmware;
}

/** Resolve a booting machine to a registered client by the configured identifier order. */
export function resolveClient(
  request: BootRequest,
  order: readonly HostIdentifier[],
  candidates: { byMac: Client | null; byUuid: Client | null },
): { client: Client; matchedBy: HostIdentifier } | null {
  for (const identifier of order) {
    if (identifier === 'mac' && request.mac && candidates.byMac) return { client: candidates.byMac, matchedBy: 'mac' };
    if (identifier === 'uuid' && request.uuid && candidates.byUuid) return { client: candidates.byUuid, matchedBy: 'uuid' };
  }
  return null;
}

export type BootDecision =
  | { kind: 'local'; reason: string }
  | { kind: 'netboot'; productId: string; actionRequest: ActionRequest; reason: string }
  | { kind: 'register'; productId: typeof ProductId.hwinvent; reason: string };

export interface DecideInput {
  client: Client | null;
  /** Product-on-client rows of this client with a pending request. */
  pending: readonly ProductOnClient[];
  products: ReadonlyMap<string, ProductDefinition>;
  bootUnknownClients: boolean;
  /**
   * Pending products that may not run yet, with the reason (an OS install whose root filesystem
   * is still being built): they are passed over, and if nothing else runs the PC boots locally.
   */
  held?: ReadonlyMap<string, string>;
}

/**
 * Pending netboot actions win, the highest product priority first; nothing pending boots the
 * local disk. Unknown clients boot locally unless the admin allows unknown clients, and then
 * they only ever get the non-destructive hwinvent (which registers them).
 */
export function decideBoot(input: DecideInput): BootDecision {
  if (!input.client) {
    if (input.bootUnknownClients) return { kind: 'register', productId: ProductId.hwinvent, reason: 'unknown client: inventory and register' };
    return { kind: 'local', reason: 'unknown client' };
  }
  const held = input.held ?? new Map<string, string>();
  const runnable = input.pending
    .filter((p) => isPendingRequest(p.actionRequest) && input.products.has(p.productId) && !held.has(p.productId))
    .sort((a, b) => {
      const pa = input.products.get(a.productId)!.priority;
      const pb = input.products.get(b.productId)!.priority;
      return pb - pa || a.productId.localeCompare(b.productId);
    });
  const next = runnable[0];
  if (!next) {
    const waiting = input.pending.find((p) => isPendingRequest(p.actionRequest) && held.has(p.productId));
    if (waiting) return { kind: 'local', reason: `${waiting.actionRequest} of ${waiting.productId} waits: ${held.get(waiting.productId)}` };
    return { kind: 'local', reason: 'no pending netboot action' };
  }
  return { kind: 'netboot', productId: next.productId, actionRequest: next.actionRequest, reason: `pending ${next.actionRequest} of ${next.productId}` };
}

/**
 * What the local-boot config looks for first. A PC whose last OS install put Linux on its disk
 * (installed, or laid down and waiting for its first-boot report) boots that system: shim in the
 * ESP / the MBR of the disk with grub's core.img. Anything else gets the generic search (Windows
 * first). Both end in the same clean fallback when the disk has no OS.
 */
export type LocalBootTarget = 'installed-linux' | 'winpe' | 'any';

/**
 * `winpePending`: an unattended Windows was staged on the winpe partition and has not reported:
 * the config chainloads the staged WinPE while its marker file is on the disk (WinPE's start
 * script removes it before it runs setup), then falls through to the generic search, which finds
 * the Windows setup is installing for its later reboots.
 */
export function localBootTarget(input: { states: readonly ProductOnClient[]; osInstallProducts: readonly string[]; laidDownWaiting: boolean; winpePending?: boolean }): LocalBootTarget {
  if (input.winpePending) return 'winpe';
  if (input.laidDownWaiting) return 'installed-linux';
  return input.states.some((s) => input.osInstallProducts.includes(s.productId) && s.installationStatus === 'installed') ? 'installed-linux' : 'any';
}
