// `netimage audit`: who changed what, on which PCs, when and from where (admins only).
import type { CommandGroup } from '../command.ts';
import { table } from '../format.ts';
import { displayZone, readTime, showTime } from '../time.ts';
import { cut, pageOf } from '../page.ts';

/** The most entries one answer of GET /api/v1/audit holds. */
const AUDIT_PAGE_MAX = 10_000;

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
    const page = pageOf(ctx.string('limit'), 100, AUDIT_PAGE_MAX, 'entries');
    const q = new URLSearchParams();
    for (const name of ['actor', 'since']) {
      const v = ctx.string(name);
      if (v === undefined) continue;
      q.set(name, name === 'since' ? readTime(v, zone, 'since').toISOString() : v);
    }
    q.set('limit', String(page.ask));
    const { rows: entries, more } = cut(await api.call<AuditEntry[]>('GET', `/api/v1/audit?${q}`), page, { one: 'entry', many: 'entries' });
    if (more) process.stderr.write(`netimage: ${more}\n`);
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
