// `netimage depot ls|verify|rm`: the server's depot (bootserver/depot/), through the admin API.
import type { CommandGroup, CommandContext } from '../command.ts';
import { table } from '../format.ts';

interface EntryView {
  id: string;
  created: string;
  bytes: number;
  files: { path: string }[];
}

export const mib = (bytes: number | null) => (bytes === null ? '-' : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/** "rootfs/debian-12-…" as the API path of an entry; anything else is a usage error. */
function entryPath(ctx: CommandContext, verb: string): string {
  const [id] = ctx.operands(verb, 1);
  if (!/^[a-z-]+\/[a-z0-9][a-z0-9._-]*$/.test(id)) throw ctx.usage(verb);
  return id;
}

export const depotCommand: CommandGroup = {
  name: 'depot',
  section: 'admin',
  usage: [
    { syntax: 'depot ls', summary: 'entries of the depot (root filesystems, ...)' },
    { syntax: 'depot verify <kind/name>', summary: 're-hash an entry against its manifest' },
    { syntax: 'depot pull <kind/name>', summary: "a site server: fetch an entry from the main server's depot (sha256-checked) and keep it" },
    { syntax: 'depot rm <kind/name>' },
  ],
  async run(ctx) {
    const api = await ctx.api();
    switch (ctx.args[0]) {
      case 'ls': {
        ctx.operands('ls', 0);
        const entries = await api.call<EntryView[]>('GET', '/api/v1/depot');
        ctx.out(entries, () => (entries.length ? table(['ENTRY', 'SIZE', 'FILES', 'CREATED'], entries.map((e) => [e.id, mib(e.bytes), e.files.length, e.created.slice(0, 19).replace('T', ' ')])) : 'the depot is empty (netimage os build debian-12)'));
        return 0;
      }
      case 'verify': {
        const id = entryPath(ctx, 'verify');
        const r = await api.call<{ ok: boolean; problems: string[]; bytes: number }>('POST', `/api/v1/depot/${id}/verify`);
        ctx.out(r, () => (r.ok ? `${id}: ok (${mib(r.bytes)} verified)` : `${id}: DAMAGED\n${r.problems.map((p) => `  ${p}`).join('\n')}`));
        return r.ok ? 0 : 1;
      }
      case 'pull': {
        const id = entryPath(ctx, 'pull');
        const e = await api.call<EntryView>('POST', `/api/v1/depot/${id}/pull`);
        ctx.out(e, () => `${e.id}: here (${mib(e.bytes)}, ${e.files.length} file(s), sha256 checked)`);
        return 0;
      }
      case 'rm': {
        const id = entryPath(ctx, 'rm');
        await api.call('DELETE', `/api/v1/depot/${id}`);
        ctx.out({ removed: id }, () => `removed ${id}`);
        return 0;
      }
      default:
        throw ctx.unknownVerb();
    }
  },
};
