// `netimage group ...`: groups (rooms) of clients.
import { seg, type CommandGroup } from '../command.ts';
import { table } from '../format.ts';

export const groupCommand: CommandGroup = {
  name: 'group',
  section: 'admin',
  usage: [
    { syntax: 'group add <name> [--description TEXT]' },
    { syntax: 'group list' },
    { syntax: 'group rm <name>', summary: 'its clients stay, without a group' },
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
        await api.call('DELETE', `/api/v1/groups/${seg(id)}`);
        ctx.out({ removed: id }, () => `removed group ${id}`);
        return 0;
      }
      case 'wake-target': {
        const [id, address] = ctx.args.length === 2 ? [...ctx.operands('wake-target', 1), undefined] : ctx.operands('wake-target', 2);
        const path = `/api/v1/groups/${seg(id)}/wake-target`;
        if (address === 'clear') await api.call('DELETE', path);
        else if (address !== undefined) await api.call('PUT', path, { broadcast: address, port: Number(ctx.string('port') ?? 9) });
        const w = await api.call<{ broadcast: string | null; port: number; from: string }>('GET', path);
        ctx.out(w, () => `${id}: magic packets go to ${w.broadcast ?? '(none: set one)'}:${w.port} (${w.from === 'group' ? "the group's own target" : 'server default'})`);
        return 0;
      }
      default:
        throw ctx.unknownVerb();
    }
  },
};
