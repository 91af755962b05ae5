// `netimage audit`: who changed what, on which PCs, when and from where (admins only).
import { UsageError, type CommandGroup } from '../command.ts';
import { table } from '../format.ts';
import { displayZone, readTime, showTime } from '../time.ts';

interface AuditEntry {
  ts: string;
  actor: string;
  via: string;
  source: string;
  method: string;
  route: string;
  clients: string[];
  status: number;
}

/** "pc01, pc02, pc03 +27" */
function clientList(clients: string[]): string {
  return clients.length > 3 ? `${clients.slice(0, 3).join(',')} +${clients.length - 3}` : clients.join(',');
}

export const auditCommand: CommandGroup = {
  name: 'audit',
  section: 'admin',
  usage: [{ syntax: 'audit [--actor NAME] [--since TIME] [--limit N] [--tz ZONE]', summary: "the audit log, newest first (via: ui = browser session, cli = API token); times shown and --since read in the server's zone, or --tz" }],
  options: {
    tz: { type: 'string' },
    actor: { type: 'string' },
    since: { type: 'string' },
    limit: { type: 'string' },
  },
  async run(ctx) {
    ctx.operands(undefined, 0);
    const api = await ctx.api();
    // One zone for what is typed and what is shown: --since 07:00 means 07:00 as the TIME column shows it.
    const zone = await displayZone(ctx.string('tz'), api);
    const q = new URLSearchParams();
    for (const name of ['actor', 'since', 'limit']) {
      const v = ctx.string(name);
      if (v === undefined) continue;
      if (name === 'limit' && !/^\d+$/.test(v)) throw new UsageError(`--limit takes a number of entries, got "${v}"`);
      q.set(name, name === 'since' ? readTime(v, zone, 'since').toISOString() : v);
    }
    const entries = await api.call<AuditEntry[]>('GET', `/api/v1/audit${q.size ? `?${q}` : ''}`);
    ctx.out(entries, () =>
      !entries.length
        ? 'no audit entries match'
        : table(
        ['TIME', 'WHO', 'VIA', 'FROM', 'REQUEST', 'PCS', 'STATUS'],
        entries.map((e) => [showTime(e.ts, zone), e.actor, e.via, e.source, `${e.method} ${e.route.replace(/^\/api\/v1/, '')}`, clientList(e.clients), e.status]),
      ),
    );
    return 0;
  },
};
