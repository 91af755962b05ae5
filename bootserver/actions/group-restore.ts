// Group restore as opsi's configed does it: the image to restore must be present on every
// client of the group, so the choice is the intersection of their imagefiles_list. And the
// refusal for one PC that has not the image asked for, worded as what the PC has. Pure.

export type GroupImageChoice =
  | { ok: true; imagefile: string; common: string[] }
  | { ok: false; reason: string; common: string[] };

export function intersectImageLists(lists: readonly (readonly string[])[]): string[] {
  if (lists.length === 0) return [];
  const [first, ...rest] = lists;
  return [...new Set(first)].filter((image) => rest.every((list) => list.includes(image))).sort();
}

/**
 * The start of the refusal of a group restore whose PCs share no image. The API's words name the
 * API's property, not a CLI flag or a button: the CLI and the web UI recognise it by this and add
 * their own way to a golden image (`room restore --server-image`, the dialog's golden choice).
 */
export const NO_COMMON_IMAGE = 'no image is present on every client of the group';

/** What a PC without images is told to do: where an image comes from. */
export const NO_IMAGES_YET = "none: back it up first with opsi-local-image-backup, or fetch a golden image from the server's depot with server_image=<name>";

/**
 * Why a restore of `requested` ('' = none named) cannot run on this PC from its own backup
 * partition, or null when it can: the PC has no image of that name, and these are the ones it has.
 */
export function clientImageRefusal(clientId: string, requested: string, images: readonly string[]): string | null {
  if (requested && images.includes(requested)) return null;
  const has = images.length ? images.join(', ') : NO_IMAGES_YET;
  if (!requested) return images.length ? `no image named for the restore of ${clientId}: name one of its images with imagefile=<name>; its images: ${has}` : `${clientId} has no image to restore; its images: ${has}`;
  return `${clientId} has no image ${requested}; its images: ${has}`;
}

/**
 * Pick the image for a group restore. An explicitly requested image must be common to all;
 * without one, the clients' current imagefile is used when it is the same everywhere and common,
 * or the only common image.
 */
export function chooseGroupImage(
  clients: readonly { clientId: string; imagefilesList: readonly string[]; imagefile: string }[],
  requested: string | null,
): GroupImageChoice {
  if (clients.length === 0) return { ok: false, reason: 'the group has no clients', common: [] };
  const common = intersectImageLists(clients.map((c) => c.imagefilesList));
  if (requested !== null) {
    if (common.includes(requested)) return { ok: true, imagefile: requested, common };
    const missing = clients.filter((c) => !c.imagefilesList.includes(requested)).map((c) => c.clientId);
    return { ok: false, reason: `image ${requested} is not on every client of the group (missing on: ${missing.join(', ')}; the images every client has: ${common.length ? common.join(', ') : 'none'})`, common };
  }
  if (common.length === 0) return { ok: false, reason: `${NO_COMMON_IMAGE}: back them up first (opsi-local-image-backup), or restore a golden image from the server's depot instead (server_image=<name>)`, common };
  const current = new Set(clients.map((c) => c.imagefile));
  const only = [...current][0];
  if (current.size === 1 && only !== undefined && common.includes(only)) return { ok: true, imagefile: only, common };
  if (common.length === 1) return { ok: true, imagefile: common[0]!, common };
  return { ok: false, reason: `several images are common to the group: choose one of ${common.join(', ')}`, common };
}
