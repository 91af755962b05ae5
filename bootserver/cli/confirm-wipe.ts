// The CLI side of the wipe confirmation (service/wipe-confirmation.ts): before a group action that
// wipes disks, show how many PCs it wipes and get that number confirmed (typed on a terminal, or
// --yes in scripts), then send it as `confirm`. The server refuses the action when the group has
// changed in between.
import { createInterface } from 'node:readline/promises';
import type { ActionRequest, PropertyValue } from '../../lib/agent-protocol.ts';
import { wipesDisks, wipeWords } from '../service/wipe-confirmation.ts';
import { NetimageError } from '../../lib/errors.ts';
import { seg, UsageError, type CommandContext } from './command.ts';
import { nameList } from '../../lib/name-list.ts';
import type { AdminClient } from './api-client.ts';

export const YES_OPTION = { yes: { type: 'boolean', short: 'y' } } as const;

/**
 * The `confirm` to send (undefined when nothing is wiped, or the group is empty: the server says
 * so), and with --yes the line to print once the server took the action: printed before, it said
 * "wipes the disks" for an action the server then refused.
 */
export async function confirmWipe(
  ctx: CommandContext,
  api: AdminClient,
  group: string,
  productId: string,
  actionRequest: ActionRequest,
  properties: Readonly<Record<string, PropertyValue>> = {},
  how: { nothingDone: string; when?: string } = { nothingDone: 'nothing set' },
): Promise<{ confirm: number | undefined; notice: string | null }> {
  if (!wipesDisks(productId, actionRequest)) return { confirm: undefined, notice: null };
  const clients = await api.call<{ id: string }[]>('GET', `/api/v1/clients?group=${seg(group)}`);
  if (clients.length === 0) return { confirm: undefined, notice: null };
  const n = clients.length;
  const what = `${productId} ${wipeWords(productId, properties).does} ${n} PC(s) of ${group}${how.when ? ` ${how.when}` : ''}: ${nameList(clients.map((c) => c.id))}`;
  if (ctx.flag('yes')) return { confirm: n, notice: ctx.flag('json') ? null : what };
  await askToConfirm(ctx, what, String(n), how.nothingDone);
  return { confirm: n, notice: null };
}

/**
 * Go ahead only when the admin confirms `what`: --yes (printed, unless --json), or `word` typed on
 * the terminal. Without a terminal and without --yes: a usage error, nothing done (`nothingDone`
 * says so in the command's words).
 */
export async function askToConfirm(ctx: CommandContext, what: string, word: string, nothingDone: string): Promise<void> {
  if (ctx.flag('yes')) {
    if (!ctx.flag('json')) process.stdout.write(`${what}\n`);
    return;
  }
  if (!process.stdin.isTTY) throw new UsageError(`${what}; ${nothingDone}: add --yes to confirm (no terminal to ask on)`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${what}.\nType ${word} to go ahead: `)).trim();
    if (answer !== word) throw new NetimageError('invalid', `not confirmed (typed "${answer}", not ${word}): ${nothingDone}`);
  } finally {
    rl.close();
  }
}
