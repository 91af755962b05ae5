// The first-boot report of an OS install (issue 11) as pure logic. The agent's `succeeded` for
// opsi-local-image-debian/-ubuntu means "laid down, rebooting into it"; the product is
// `installed` only when the installed system reports its first boot with the one-time token of
// its install plan. No report by the deadline: the product failed, with the reason.
//
//   plan fetched ----------------> installing   (a token is minted; a new fetch replaces it)
//   installing --agent succeeded--> waiting     (deadline = now + timeout)
//   installing|waiting --report---> reported    (token spent: installed)
//   waiting --deadline passed-----> timed_out   (product failed)
//   installing|waiting --newer request of the same product--> superseded
import type { FirstBootReport } from '../../lib/agent-protocol.ts';
import { ProductId } from '../../lib/products.ts';
import type { OsInstallRecord, ProductOnClient } from '../store/types.ts';

/** Linux installs: a root filesystem laid down by the agent; the installed system reports its first boot. */
export const LINUX_INSTALL_PRODUCTS: readonly string[] = [ProductId.debian, ProductId.ubuntu];

/**
 * Unattended Windows (opsi's NT6 flow): the agent stages WinPE, the install sources and the answer
 * file on the winpe partition; Windows setup installs; SetupComplete.cmd reports with the token.
 */
export const WINDOWS_INSTALL_PRODUCTS: readonly string[] = [ProductId.win10, ProductId.win11];

/** Products whose success is only the laydown: installed once the installed system reports. */
export const FIRST_BOOT_PRODUCTS: readonly string[] = [...LINUX_INSTALL_PRODUCTS, ...WINDOWS_INSTALL_PRODUCTS];

export function isWindowsInstall(productId: string): boolean {
  return WINDOWS_INSTALL_PRODUCTS.includes(productId);
}

export function awaitsFirstBoot(productId: string): boolean {
  return FIRST_BOOT_PRODUCTS.includes(productId);
}

/**
 * How long a freshly minted first-boot token may wait for the agent's result before the
 * timeout starts: the laydown of a root filesystem takes minutes; this is a generous bound.
 */
export const INSTALL_WINDOW_MS = 4 * 60 * 60 * 1000;

export const OPEN_STATES: readonly OsInstallRecord['state'][] = ['installing', 'waiting'];

/** Expiry of a token minted now: the install window plus the first-boot timeout. */
export function mintedTokenExpiry(now: Date, timeoutMs: number): string {
  return new Date(now.getTime() + INSTALL_WINDOW_MS + timeoutMs).toISOString();
}

/** The agent reported the system laid down: the first boot is due within the timeout. */
export function laidDown(record: OsInstallRecord, now: Date, timeoutMs: number): OsInstallRecord {
  const deadline = new Date(now.getTime() + timeoutMs).toISOString();
  const tokenExpires = record.tokenExpires && record.tokenExpires < deadline ? record.tokenExpires : deadline;
  return { ...record, state: 'waiting', deadline, tokenExpires, updated: now.toISOString() };
}

/** May a first-boot token (already matched to `record` by its hash) be used now? */
export function firstBootTokenVerdict(record: OsInstallRecord | null, now: Date): { ok: true } | { ok: false; reason: string } {
  if (!record) return { ok: false, reason: 'unknown or already used first-boot token' };
  if (!OPEN_STATES.includes(record.state)) return { ok: false, reason: `the install is ${record.state.replace('_', ' ')}: its first-boot token no longer works` };
  if (!record.tokenExpires || Date.parse(record.tokenExpires) <= now.getTime()) return { ok: false, reason: `the first-boot token expired at ${record.tokenExpires ?? 'its minting'}` };
  return { ok: true };
}

/** Installs whose report is overdue at `now`. */
export function overdue(records: readonly OsInstallRecord[], now: Date): OsInstallRecord[] {
  return records.filter((r) => r.state === 'waiting' && r.deadline !== null && Date.parse(r.deadline) <= now.getTime());
}

/** One line for the job log and the product's state from a report. */
export function describeReport(report: FirstBootReport): string {
  const sb = report.secureBoot === null ? 'Secure Boot unknown' : `Secure Boot ${report.secureBoot ? 'on' : 'off'}`;
  return `first boot of ${report.hostname} (kernel ${report.kernelRelease}, ${report.bootMode.toUpperCase()}, ${sb})`;
}

/** opsi's installed: the installed system proved it boots. */
export function productStateAfterFirstBoot(poc: ProductOnClient, context: { productVersion: string; now: string; report: FirstBootReport }): ProductOnClient {
  return {
    ...poc,
    installationStatus: 'installed',
    actionResult: 'successful',
    lastAction: 'setup',
    actionProgress: describeReport(context.report).slice(0, 1000),
    productVersion: context.productVersion,
    modified: context.now,
  };
}

/** No report by the deadline. A request set meanwhile stays: it is the admin's newer intent. */
export function productStateAfterTimeout(poc: ProductOnClient, context: { now: string; timeoutMinutes: number }): ProductOnClient {
  return {
    ...poc,
    installationStatus: 'unknown',
    actionResult: 'failed',
    lastAction: 'setup',
    actionProgress: `failed: no first-boot report within ${context.timeoutMinutes} min after the system was laid down (did the PC boot its local disk? see its console)`,
    modified: context.now,
  };
}
