// `netimage states <hostname>`: product states of a client (opsi productOnClient).
import { seg, type CommandGroup } from '../command.ts';
import { table } from '../format.ts';

interface ProductState {
  productId: string;
  actionRequest: string;
  installationStatus: string;
  actionResult: string;
  actionProgress: string;
  lastAction: string;
}

export const statesCommand: CommandGroup = {
  name: 'states',
  section: 'admin',
  usage: [{ syntax: 'states <hostname>', summary: 'product states (opsi productOnClient)' }],
  async run(ctx) {
    const [client] = ctx.operands(undefined, 1);
    const states = await (await ctx.api()).call<ProductState[]>('GET', `/api/v1/clients/${seg(client)}/products`);
    ctx.out(states, () => table(['PRODUCT', 'REQUEST', 'STATUS', 'RESULT', 'LAST', 'PROGRESS'], states.map((s) => [s.productId, s.actionRequest, s.installationStatus, s.actionResult, s.lastAction, s.actionProgress])));
    return 0;
  },
};
