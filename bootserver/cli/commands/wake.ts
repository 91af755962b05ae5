// `netimage wake`: Wake-on-LAN magic packets now, to one client or every client of a group.
import { seg, type CommandGroup } from '../command.ts';
import { nameList } from '../../../lib/name-list.ts';
import type { AdminClient } from '../api-client.ts';

interface WakeRecordView {
  clientId: string;
  address: string;
}

/** Wake a client or a group; the line to print. Also used by `action set --wake`. */
export async function wake(api: AdminClient, target: { client?: string | undefined; group?: string | undefined }): Promise<string> {
  if (target.group) {
    const r = await api.call<{ woken: WakeRecordView[]; skipped: { clientId: string; reason: string }[] }>('POST', `/api/v1/groups/${seg(target.group)}/wake`);
    return `woke ${r.woken.length} client(s) of ${target.group}${r.skipped.length ? `; skipped ${nameList(r.skipped.map((s) => `${s.clientId} (${s.reason})`))}` : ''}`;
  }
  const r = await api.call<WakeRecordView>('POST', `/api/v1/clients/${seg(target.client!)}/wake`);
  return `sent a wake-on-lan packet to ${r.clientId} via ${r.address}`;
}

export const wakeCommand: CommandGroup = {
  name: 'wake',
  section: 'admin',
  usage: [{ syntax: 'wake <hostname> | wake --group G', summary: 'send Wake-on-LAN packets now' }],
  options: { group: { type: 'string' } },
  async run(ctx) {
    const group = ctx.string('group');
    const text = group ? (ctx.operands(undefined, 0), await wake(await ctx.api(), { group })) : await wake(await ctx.api(), { client: ctx.operands(undefined, 1)[0] });
    ctx.out({ message: text }, () => text);
    return 0;
  },
};
