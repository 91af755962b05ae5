// A group action that wipes disks must name how many PCs it wipes. A room of 30 PCs is one typo
// away from the room next door: the caller shows the count and sends it back as `confirm`; a
// missing or different number refuses the whole action before anything is written. Pure; the
// service runs it inside the transaction that lists the group's clients, so the count cannot
// change between the check and the writes.
import type { ActionRequest, PropertyValue } from '../../lib/agent-protocol.ts';
import { ProductId, productFacts } from '../../lib/products.ts';
import { NetimageError } from '../../lib/errors.ts';
import { fetchOnlyImage } from '../../lib/golden.ts';
import { nameList } from '../../lib/name-list.ts';

export class WipeConfirmationError extends NetimageError {
  /** The number the caller must send as `confirm`. */
  readonly wipes: number;
  constructor(kind: 'invalid' | 'conflict', message: string, wipes: number) {
    super(kind, message);
    this.name = 'WipeConfirmationError';
    this.wipes = wipes;
  }
}

/** Does this request wipe disks? Clearing a request ('none') never does. */
export function wipesDisks(productId: string, actionRequest: ActionRequest): boolean {
  return actionRequest !== 'none' && (productFacts(productId)?.destructive ?? false);
}

/** What the action does to each PC's disks, after "<product> ": the words the CLI and the server's refusals use. */
export function wipeWords(productId: string, properties: Readonly<Record<string, PropertyValue>> = {}): { does: string; would: string } {
  // A fetch only leaves the system partition alone; it replaces a same-named image on the backup partition.
  const golden = productId === ProductId.restore ? fetchOnlyImage(properties) : null;
  if (golden) {
    const what = `puts golden image ${golden} onto the backup partitions (replacing an image of that name already there; the system partitions are not touched) of`;
    return { does: what, would: `would put golden image ${golden} onto the backup partitions (replacing an image of that name already there) of` };
  }
  return { does: 'wipes the disks of', would: 'would wipe' };
}

/** Throws unless `confirm` is the number of PCs this group action wipes (nothing to confirm for others). */
export function checkWipeConfirmation(
  groupId: string,
  productId: string,
  actionRequest: ActionRequest,
  clientIds: readonly string[],
  confirm: number | undefined,
  properties: Readonly<Record<string, PropertyValue>> = {},
  nothingDone = 'nothing set',
): void {
  if (!wipesDisks(productId, actionRequest)) return;
  const n = clientIds.length;
  const pcs = `${n} PC${n === 1 ? '' : 's'}`;
  const words = wipeWords(productId, properties);
  const names = nameList(clientIds);
  if (confirm === undefined) {
    throw new WipeConfirmationError('invalid', `${productId} ${words.does} ${pcs} in group ${groupId} (${names}): send "confirm": ${n} to go ahead; ${nothingDone}`, n);
  }
  if (confirm !== n) {
    throw new WipeConfirmationError('conflict', `confirm is ${confirm}, but ${productId} ${words.would} ${pcs} in group ${groupId} (${names}): ${nothingDone}; check the group and send "confirm": ${n}`, n);
  }
}
