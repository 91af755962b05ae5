// The one list of netboot product ids, which of them are destructive, and which of them the
// agent in the boot image implements. The agent registry, the catalogue loader and the server's
// action-request check all read this list; products/*.json must agree with it (a test checks).
// A product in the catalogue but not in the boot image stays listed (its install issue will
// implement it) but cannot be requested: the PC would only find out after a full PXE boot.

/** What a product id looks like (opsi's: lower case, digits, dot, underscore, hyphen). */
export const PRODUCT_ID_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;
export const PRODUCT_ID_MAX = 128;

export const ProductId = {
  hwinvent: 'hwinvent',
  prepare: 'opsi-local-image-prepare',
  backup: 'opsi-local-image-backup',
  restore: 'opsi-local-image-restore',
  delimage: 'opsi-local-image-delimage',
  ubuntu: 'opsi-local-image-ubuntu',
  debian: 'opsi-local-image-debian',
  win10: 'opsi-local-image-win10-x64',
  win11: 'opsi-local-image-win11-x64',
  wimCapture: 'opsi-local-image-wim-capture',
  wimInfo: 'opsi-wim-info',
} as const;
export type ProductId = (typeof ProductId)[keyof typeof ProductId];

export interface ProductFacts {
  readonly id: ProductId;
  /** Writes to the client's disks: only ever run for a client with that action explicitly pending. */
  readonly destructive: boolean;
  /** The agent in the boot image implements it (bootimage/agent/registry.ts). */
  readonly inBootImage: boolean;
}

export const PRODUCTS: readonly ProductFacts[] = [
  { id: ProductId.hwinvent, destructive: false, inBootImage: true },
  { id: ProductId.prepare, destructive: true, inBootImage: true },
  { id: ProductId.backup, destructive: false, inBootImage: true },
  { id: ProductId.restore, destructive: true, inBootImage: true },
  { id: ProductId.delimage, destructive: true, inBootImage: true },
  { id: ProductId.ubuntu, destructive: true, inBootImage: true },
  { id: ProductId.debian, destructive: true, inBootImage: true },
  { id: ProductId.win10, destructive: true, inBootImage: true },
  { id: ProductId.win11, destructive: true, inBootImage: true },
  { id: ProductId.wimCapture, destructive: true, inBootImage: true },
  { id: ProductId.wimInfo, destructive: false, inBootImage: true },
];

export function productFacts(id: string): ProductFacts | undefined {
  return PRODUCTS.find((p) => p.id === id);
}

/** Ids the boot image's agent can run, in list order. */
export function bootImageProductIds(): ProductId[] {
  return PRODUCTS.filter((p) => p.inBootImage).map((p) => p.id);
}

/** opsi's delay_for_reboot (any product): the longest wait honoured after a job, in seconds; the server refuses more, the agent never waits longer (a typo must not park a PC for hours). */
export const MAX_REBOOT_DELAY_SECONDS = 600;
