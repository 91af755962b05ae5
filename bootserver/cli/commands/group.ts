// `netimage group ...`: groups (rooms) of clients.
import { seg, UsageError, type CommandGroup } from '../command.ts';
import { table } from '../format.ts';

export const groupCommand: CommandGroup = {
  name: 'group',
  section: 'admin',
  usage: [
    { syntax: 'group add <name> [--description TEXT]' },
    { syntax: 'group list' },
    { syntax: 'group rm <name>', summary: 'its clients stay, without a group; its operators lose it; refused while a schedule targets it' },
    { syntax: 'group wake-target <name> [<broadcast> [--port 9] | clear]', summary: "show or set where the room's Wake-on-LAN packets go" },
  ],
  options: { description: { type: 'string' }, port: { type: 'string' } },
  async run(ctx) {
    const api = await ctx.api();
    switch (ctx.args[0]) {
      case 'add': {
        const [id] = ctx.operands('add', 1);
        const g = await api.call('POST', '/api/v1/groups', { id, description: ctx.string('description') ?? '' });
        ctx.out(g, () => `added group ${id}`);
        return 0;
      }
      case 'list': {
        ctx.operands('list', 0);
        const groups = await api.call<{ id: string; description: string; clients: string[] }[]>('GET', '/api/v1/groups');
        ctx.out(groups, () => table(['GROUP', 'CLIENTS', 'DESCRIPTION'], groups.map((g) => [g.id, g.clients.length, g.description])));
        return 0;
      }
      case 'rm': {
        const [id] = ctx.operands('rm', 1);
        const r = await api.call<{ operators?: string[] } | null>('DELETE', `/api/v1/groups/${seg(id)}`);
        const operators = r?.operators ?? [];
        ctx.out({ removed: id, operators }, () => `removed group ${id}${operators.length ? `; operator(s) ${operators.join(', ')} no longer have it` : ''}`);
        return 0;
      }
      case 'wake-target': {
        const [id, address] = ctx.args.length === 2 ? [...ctx.operands('wake-target', 1), undefined] : ctx.operands('wake-target', 2);
        const path = `/api/v1/groups/${seg(id)}/wake-target`;
        if (address === 'clear') await api.call('DELETE', path);
        else if (address !== undefined) await api.call('PUT', path, { broadcast: address, port: wakePort(ctx.string('port')) });
        const w = await api.call<{ broadcast: string | null; port: number; from: string }>('GET', path);
        ctx.out(w, () => wakeTargetText(id, w));
        return 0;
      }
      default:
        throw ctx.unknownVerb();
    }
  },
};

/** --port of wake-target: a UDP port, checked here so a typo is not sent as null. */
function wakePort(given: string | undefined): number {
  if (given === undefined) return 9;
  const port = Number(given);
  if (!/^\d+$/.test(given.trim()) || port < 1 || port > 65535) throw new UsageError(`--port takes a UDP port number (1-65535; Wake-on-LAN uses 9 or 7), got "${given}"`);
  return port;
}

/** Where a group's magic packets go, or that they have nowhere to go (not "(none: set one):9"). */
export function wakeTargetText(id: string, w: { broadcast: string | null; port: number; from: string; problem?: string }): string {
  return w.broadcast === null
    ? `${id}: no wake target: the group has none and the server has no default (${w.problem ?? 'wake.broadcast, or an advertisedIp on a network interface'}); set one with netimage group wake-target ${id} <broadcast>`
    : `${id}: magic packets go to ${w.broadcast}:${w.port} (${w.from === 'group' ? "the group's own target" : 'server default'})`;
}
