// `netimage action set`: what a client (or every client of a group) runs at its next network boot.
import { parseProps, seg, type CommandGroup } from '../command.ts';
import { nameList } from '../../../lib/name-list.ts';
import { wake } from './wake.ts';
import { withCliWay } from '../golden-way.ts';
import { confirmWipe, YES_OPTION } from '../confirm-wipe.ts';
import type { ActionRequest } from '../../../lib/agent-protocol.ts';

export const actionCommand: CommandGroup = {
  name: 'action',
  section: 'admin',
  usage: [
    {
      syntax: 'action set <hostname|--group G> <product> [--request setup] [--prop k=v ...] [--wake] [--yes]',
      summary: '--wake: Wake-on-LAN right away; a group action that wipes disks asks to confirm the number of PCs (--yes: no question)',
    },
  ],
  options: {
    group: { type: 'string' },
    request: { type: 'string' },
    prop: { type: 'string', multiple: true },
    wake: { type: 'boolean' },
    ...YES_OPTION,
  },
  async run(ctx) {
    if (ctx.args[0] !== 'set') throw ctx.unknownVerb();
    const group = ctx.string('group');
    const body = { actionRequest: ctx.string('request') ?? 'setup', properties: parseProps(ctx.strings('prop')) };
    // --request none takes a pending request back: saying it "runs at the next network boot" would be wrong.
    const cleared = body.actionRequest === 'none';
    const api = await ctx.api();
    if (group) {
      const [product] = ctx.operands('set', 1);
      // The server checks the request name; an unknown one wipes nothing here and is refused there.
      const { confirm, notice } = await confirmWipe(ctx, api, group, product, body.actionRequest as ActionRequest, body.properties);
      const r = await api
        .call<{ clients: string[]; imagefile: string | null; warnings?: string[] }>('POST', `/api/v1/groups/${seg(group)}/action`, { productId: product, ...body, ...(confirm === undefined ? {} : { confirm }) })
        .catch((error: unknown) => {
          throw withCliWay(error, `--prop server_image=NAME, or netimage room restore ${group} --server-image NAME (netimage depot ls lists the golden images)`);
        });
      const what = cleared ? `cleared the ${product} request of ${r.clients.length} client(s) of ${group}` : `${body.actionRequest} of ${product} set for ${r.clients.length} client(s) of ${group}${r.imagefile ? ` (image ${r.imagefile})` : ''}`;
      ctx.out(r, () => [...(notice ? [notice] : []), `${what}: ${nameList(r.clients)}`, ...(r.warnings ?? []).map((w) => `warning: ${w}`)].join('\n'));
    } else {
      const [client, product] = ctx.operands('set', 2);
      const r = await api.call('PUT', `/api/v1/clients/${seg(client)}/products/${seg(product)}/action`, body).catch((error: unknown) => {
        throw withCliWay(error, `--prop server_image=NAME`);
      });
      ctx.out(r, () => (cleared ? `cleared the ${product} request of ${client}: it does not run at the next network boot` : `${body.actionRequest} of ${product} set for ${client}; it runs at the next network boot`));
    }
    if (ctx.flag('wake')) {
      const text = await wake(api, group ? { group } : { client: ctx.args[1] });
      ctx.out({ wake: text }, () => text);
    }
    return 0;
  },
};
