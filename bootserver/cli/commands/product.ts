// `netimage product list|show` and `netimage props`: netboot products and per-client property values.
import { parseProps, seg, type CommandGroup } from '../command.ts';
import { table } from '../format.ts';

export const productCommand: CommandGroup = {
  name: 'product',
  section: 'admin',
  usage: [{ syntax: 'product list' }, { syntax: 'product show <product>', summary: "a product's properties: default and choices (Windows: the images in the depot)" }],
  async run(ctx) {
    if (ctx.args[0] === 'show') {
      const [id] = ctx.operands('show', 1);
      type Property = { name: string; type: string; default: unknown; choices: string[]; editable: boolean; description: string };
      const p = await (await ctx.api()).call<{ id: string; name: string; properties: Property[] }>('GET', `/api/v1/products/${seg(id)}`);
      // Choices are offered, not enforced, for an editable property (imagename: the action set checks it).
      ctx.out(p, () =>
        [
          `${p.id}: ${p.name}`,
          table(
            ['PROPERTY', 'DEFAULT', 'CHOICES', 'DESCRIPTION'],
            p.properties.map((x) => [x.name, JSON.stringify(x.default), x.choices.length ? x.choices.map((c) => JSON.stringify(c)).join(', ') + (x.editable ? '' : ' (only these)') : '-', x.description]),
          ),
        ].join('\n'),
      );
      return 0;
    }
    if (ctx.args[0] !== 'list') throw ctx.unknownVerb();
    ctx.operands('list', 0);
    const products = await (await ctx.api()).call<{ id: string; version: string; destructive: boolean; inBootImage: boolean; name: string }[]>('GET', '/api/v1/products');
    // RUNS: whether this server's boot image implements it; `action set` refuses the others (409).
    ctx.out(products, () =>
      table(['PRODUCT', 'VERSION', 'DESTRUCTIVE', 'RUNS', 'NAME'], products.map((p) => [p.id, p.version, p.destructive ? 'yes' : 'no', p.inBootImage ? 'yes' : 'not yet', p.name])),
    );
    return 0;
  },
};

export const propsCommand: CommandGroup = {
  name: 'props',
  section: 'admin',
  usage: [{ syntax: 'props <hostname> <product> [--prop k=v ...]', summary: 'show or set property values' }],
  options: { prop: { type: 'string', multiple: true } },
  async run(ctx) {
    const [client, product] = ctx.operands(undefined, 2);
    const api = await ctx.api();
    const path = `/api/v1/clients/${seg(client)}/products/${seg(product)}/properties`;
    const values = ctx.strings('prop');
    const props = values.length ? await api.call<Record<string, unknown>>('PUT', path, { values: parseProps(values) }) : await api.call<Record<string, unknown>>('GET', path);
    ctx.out(props, () => table(['PROPERTY', 'VALUE'], Object.entries(props).map(([k, v]) => [k, JSON.stringify(v)])));
    return 0;
  },
};
