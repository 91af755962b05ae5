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
  /** os: a product netimage does not run (e.g. windomain): an agent in the installed OS acts on it. */
  managedBy: string;
}

export const statesCommand: CommandGroup = {
  name: 'states',
  section: 'admin',
  usage: [{ syntax: 'states <hostname>', summary: 'product states (opsi productOnClient; RUN BY os: not run by netimage)' }],
  async run(ctx) {
    const [client] = ctx.operands(undefined, 1);
    const states = await (await ctx.api()).call<ProductState[]>('GET', `/api/v1/clients/${seg(client)}/products`);
    ctx.out(states, () =>
      table(
        ['PRODUCT', 'REQUEST', 'STATUS', 'RESULT', 'LAST', 'PROGRESS', 'RUN BY'],
        states.map((s) => [s.productId, s.actionRequest, s.installationStatus, s.actionResult, s.lastAction, s.actionProgress, s.managedBy]),
      ),
    );
    return 0;
  },
};
