// A group action that wipes disks must name how many PCs it wipes. A room of 30 PCs is one typo
// away from the room next door: the caller shows the count and sends it back as `confirm`; a
// missing or different number refuses the whole action before anything is written. Pure; the
// service runs it inside the transaction that lists the group's clients, so the count cannot
// change between the check and the writes.
import type { ActionRequest } from '../../lib/agent-protocol.ts';
import { productFacts } from '../../lib/products.ts';
import { NetimageError } from '../../lib/errors.ts';

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

/** Throws unless `confirm` is the number of PCs this group action wipes (nothing to confirm for others). */
export function checkWipeConfirmation(groupId: string, productId: string, actionRequest: ActionRequest, clientIds: readonly string[], confirm: number | undefined): void {
  if (!wipesDisks(productId, actionRequest)) return;
  const n = clientIds.length;
  const pcs = `${n} PC${n === 1 ? '' : 's'}`;
  if (confirm === undefined) {
    throw new WipeConfirmationError('invalid', `${productId} wipes the disks of ${pcs} in group ${groupId} (${clientIds.join(', ')}): send "confirm": ${n} to go ahead; nothing set`, n);
  }
  if (confirm !== n) {
    throw new WipeConfirmationError('conflict', `confirm is ${confirm}, but ${productId} would wipe ${pcs} in group ${groupId} (${clientIds.join(', ')}): nothing set; check the group and send "confirm": ${n}`, n);
  }
}
