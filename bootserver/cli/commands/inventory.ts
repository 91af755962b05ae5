// `netimage inventory <hostname>`: the hardware hwinvent reported.
import { seg, type CommandGroup } from '../command.ts';

export const inventoryCommand: CommandGroup = {
  name: 'inventory',
  section: 'admin',
  usage: [{ syntax: 'inventory <hostname>', summary: 'hardware reported by hwinvent' }],
  async run(ctx) {
    const [client] = ctx.operands(undefined, 1);
    const inv = await (await ctx.api()).call('GET', `/api/v1/clients/${seg(client)}/inventory`);
    ctx.out(inv, () => JSON.stringify(inv, null, 2));
    return 0;
  },
};
