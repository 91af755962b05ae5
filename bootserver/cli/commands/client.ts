// `netimage client ...`: the client registry (PCs known by MAC and/or SMBIOS UUID).
import { readFile } from 'node:fs/promises';
import { seg, UsageError, type CommandContext, type CommandGroup } from '../command.ts';
import { table } from '../format.ts';
import { displayZone, showTime } from '../time.ts';
import { CSV_BODY_LIMIT } from '../../http/limits.ts';

interface ClientView {
  id: string;
  mac: string | null;
  uuid: string | null;
  group: string | null;
  description: string;
  /** The latest Wake-on-LAN, when the server runs the operator features. */
  wake?: { status: string } | null;
  /** When and at which site a bootserver last read its boot config. */
  lastSeen?: string | null;
  lastSeenSite?: string | null;
}

/** "2026-12-02 03:40:12 +01:00 at site-b", or nothing for a client no server has seen. */
function seenAt(c: ClientView, zone: string): string | null {
  return c.lastSeen ? `${showTime(c.lastSeen, zone)} at ${c.lastSeenSite ?? '?'}` : null;
}

interface ClientDetail extends ClientView {
  notes?: string;
  created?: string;
  modified?: string;
  hasInventory?: boolean;
  wake?: { status: string; address?: string; sent?: string } | null;
}

/** `client show` as an admin reads it (--json keeps the API object); times in `zone` with the offset. */
export function clientText(c: ClientDetail, zone = 'UTC'): string {
  const when = (iso: string | null | undefined) => showTime(iso, zone);
  const wake = c.wake ? `${c.wake.status.replace(/_/g, ' ')}${c.wake.sent ? ` (sent ${when(c.wake.sent)}${c.wake.address ? ` to ${c.wake.address}` : ''})` : ''}` : null;
  const rows: [string, string | null | undefined][] = [
    ['MAC', c.mac],
    ['SMBIOS UUID', c.uuid],
    ['group', c.group],
    ['description', c.description],
    ['notes', c.notes],
    ['last seen', seenAt(c, zone) ?? 'never (no boot config read yet)'],
    ['last wake', wake],
    ['inventory', c.hasInventory ? `yes (netimage inventory ${c.id})` : `none yet (netimage action set ${c.id} hwinvent)`],
    ['registered', when(c.created)],
    ['changed', when(c.modified)],
  ];
  return [`client ${c.id}`, ...rows.map(([k, v]) => `  ${(k + ':').padEnd(13)} ${v || '-'}`), '', `product states: netimage states ${c.id}; images: netimage images ${c.id}; jobs: netimage jobs --client ${c.id}`].join('\n');
}

/** Fields `client edit` can change; an empty value clears mac, uuid and group. */
const EDITABLE = ['mac', 'uuid', 'group', 'description'] as const;

export const clientCommand: CommandGroup = {
  name: 'client',
  section: 'admin',
  usage: [
    { syntax: 'client add <hostname> [--mac MAC] [--uuid UUID] [--group G] [--description TEXT]' },
    { syntax: 'client edit <hostname> [--mac MAC] [--uuid UUID] [--group G] [--description TEXT]', summary: '"" clears a field' },
    { syntax: 'client list [--group G]' },
    { syntax: 'client show <hostname>' },
    { syntax: 'client rm <hostname>' },
    { syntax: 'client import <file.csv>', summary: 'CSV: hostname,mac,uuid,group[,description]' },
  ],
  options: {
    mac: { type: 'string' },
    uuid: { type: 'string' },
    group: { type: 'string' },
    description: { type: 'string' },
    tz: { type: 'string' },
  },
  async run(ctx) {
    const api = await ctx.api();
    switch (ctx.args[0]) {
      case 'add': {
        const [id] = ctx.operands('add', 1);
        const c = await api.call<{ id: string }>('POST', '/api/v1/clients', { id, mac: ctx.string('mac') ?? null, uuid: ctx.string('uuid') ?? null, group: ctx.string('group') ?? null, description: ctx.string('description') ?? '' });
        // As stored: host names are kept in lower case, and the PC is known by that name from now on.
        ctx.out(c, () => (c.id === id ? `added ${c.id}` : `added ${c.id} (host names are kept in lower case)`));
        return 0;
      }
      case 'edit': {
        const [id] = ctx.operands('edit', 1);
        const c = await api.call<ClientView>('PATCH', `/api/v1/clients/${seg(id)}`, editPatch(ctx));
        ctx.out(c, () => `changed ${c.id}: ${EDITABLE.filter((f) => ctx.has(f)).map((f) => `${f} ${c[f] || '(none)'}`).join(', ')}`);
        return 0;
      }
      case 'list': {
        ctx.operands('list', 0);
        const group = ctx.string('group');
        const list = await api.call<ClientView[]>('GET', `/api/v1/clients${group ? `?group=${seg(group)}` : ''}`);
        // WAKE: the latest Wake-on-LAN (waiting, woke, did_not_wake).
        const none = group ? `no clients in group ${group} yet: netimage client add <hostname> --mac <MAC> --group ${group}` : 'no clients yet: netimage client add <hostname> --mac <MAC>';
        const zone = await displayZone(ctx.string('tz'), api);
        ctx.out(list, () => (list.length ? table(['HOSTNAME', 'MAC', 'SMBIOS UUID', 'GROUP', 'WAKE', 'LAST SEEN', 'DESCRIPTION'], list.map((c) => [c.id, c.mac, c.uuid, c.group, c.wake?.status, seenAt(c, zone), c.description])) : none));
        return 0;
      }
      case 'show': {
        const [id] = ctx.operands('show', 1);
        const zone = await displayZone(ctx.string('tz'), api);
        const c = await api.call<ClientDetail>('GET', `/api/v1/clients/${seg(id)}`);
        ctx.out(c, () => clientText(c, zone));
        return 0;
      }
      case 'rm': {
        const [id] = ctx.operands('rm', 1);
        await api.call('DELETE', `/api/v1/clients/${seg(id)}`);
        ctx.out({ removed: id }, () => `removed ${id}`);
        return 0;
      }
      case 'import': {
        const [file] = ctx.operands('import', 1);
        const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
          throw new UsageError(`cannot read ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'a directory, not a CSV file' : e.message}`);
        });
        const bytes = Buffer.byteLength(text);
        if (bytes > CSV_BODY_LIMIT) {
          throw new UsageError(`${file} is ${(bytes / 2 ** 20).toFixed(1)} MiB; one import takes at most ${CSV_BODY_LIMIT / 2 ** 20} MiB (about 100,000 PCs): split the file`);
        }
        const r = await api.call<{ imported: number; createdGroups?: string[] }>('POST', '/api/v1/clients/import', text, 'text/csv');
        const made = r.createdGroups?.length ? `; made the new group(s) ${r.createdGroups.join(', ')} (netimage group rm <name> takes one back)` : '';
        ctx.out(r, () => `imported ${r.imported} client(s)${made}`);
        return 0;
      }
      default:
        throw ctx.unknownVerb();
    }
  },
};

/** The PATCH body of `client edit`: only the options given; refused when there are none. */
function editPatch(ctx: CommandContext): Record<string, string | null> {
  const patch: Record<string, string | null> = {};
  for (const field of EDITABLE) {
    if (!ctx.has(field)) continue;
    const value = ctx.string(field) ?? '';
    patch[field] = value === '' && field !== 'description' ? null : value;
  }
  if (Object.keys(patch).length === 0) throw new UsageError(`client edit: nothing to change: give --mac, --uuid, --group or --description`);
  return patch;
}
