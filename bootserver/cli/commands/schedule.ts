// `netimage schedule ...`: one-shot and recurring actions (and wakes) for a client or a group.
import { parseProps, seg, UsageError, type CommandGroup } from '../command.ts';
import { table } from '../format.ts';
import { hasOffset, normalizeWallTime } from '../../../lib/zoned-time.ts';
import { displayZone, showTime } from '../time.ts';
import { confirmWipe, YES_OPTION } from '../confirm-wipe.ts';
import type { ActionRequest, PropertyValue } from '../../../lib/agent-protocol.ts';

interface ScheduleView {
  name: string;
  kind: string;
  at: string | null;
  /** The wall time typed, in `timezone` (null: the server's); absent on schedules made before it was kept. */
  atLocal?: string | null;
  cron: string | null;
  timezone: string | null;
  target: { kind: string; id: string };
  productId: string | null;
  actionRequest: string;
  wake: boolean;
  missedPolicy: string;
  nextRun: string | null;
  lastRun: string | null;
}

interface ScheduleRunView {
  due: string;
  handled: string;
  outcome: string;
  message: string;
}
interface ScheduleDetail extends ScheduleView {
  enabled?: boolean | undefined;
  properties?: Record<string, unknown> | undefined;
  lateWindowSeconds?: number | undefined;
  runs: ScheduleRunView[];
}

/** What the admin set: the wall time or cron in the schedule's own zone; an old one-shot (an instant only) in the zone shown. */
const when = (s: ScheduleView, zone: string) =>
  s.kind === 'once'
    ? s.atLocal
      ? `once ${s.atLocal.replace('T', ' ').replace(/:00$/, '')} (${s.timezone ?? 'server zone'})`
      : `once ${showTime(s.at, zone)}`
    : `${s.cron}${s.timezone ? ` (${s.timezone})` : ''}`;
const what = (s: ScheduleView) => [s.productId ? `${s.actionRequest} ${s.productId}` : null, s.wake ? 'wake' : null].filter(Boolean).join(' + ');

/** `schedule show`: the schedule as an admin reads it, then its last runs (newest first, as the server sends them). */
function scheduleText(s: ScheduleDetail, zone: string): string {
  const props = Object.entries(s.properties ?? {}).map(([k, v]) => `${k}=${String(v)}`);
  const lines = [
    `schedule ${s.name}${s.enabled === false ? ' (disabled)' : ''}`,
    `  when:     ${when(s, zone)}`,
    `  target:   ${s.target.kind} ${s.target.id}`,
    `  does:     ${what(s) || '-'}${props.length ? ` (${props.join(' ')})` : ''}`,
    `  missed:   ${s.missedPolicy}${s.lateWindowSeconds !== undefined ? `, late window ${s.lateWindowSeconds} s` : ''}`,
    `  next run: ${showTime(s.nextRun, zone) ?? '-'}`,
    `  last run: ${showTime(s.lastRun, zone) ?? '-'}`,
  ];
  if (!s.runs.length) return [...lines, '', 'no runs yet'].join('\n');
  return [...lines, '', table(['DUE', 'HANDLED', 'OUTCOME', 'MESSAGE'], s.runs.map((r) => [showTime(r.due, zone), showTime(r.handled, zone), r.outcome, r.message]))].join('\n');
}

/**
 * --at as the API takes it: a wall time ("2026-12-02 07:00") goes as typed, with --tz (else the
 * server's zone), and the server works out the instant when it plans the run; an ISO time with
 * an offset is that instant. The CLI does no zone arithmetic of its own: it once did, with a zone
 * offset reckoned here, in this machine's zone when --tz was not given.
 */
export function atOption(text: string): string {
  const t = text.trim();
  if (hasOffset(t) && !Number.isNaN(Date.parse(t))) return t;
  const wall = normalizeWallTime(t);
  if (wall === null) throw new UsageError(`--at "${text}" is not a time like 2026-12-02 07:00 or 2026-12-02T07:00:00+01:00`);
  return wall;
}

export const scheduleCommand: CommandGroup = {
  name: 'schedule',
  section: 'admin',
  usage: [
    {
      syntax:
        'schedule add <name> (--at TIME | --every "weekdays 07:00" | --cron "0 7 * * 1-5") [--tz ZONE] (<hostname> | --group G) [<product>] [--request setup] [--prop k=v ...] [--wake] [--missed skip|run-once] [--late-window SECONDS] [--yes]',
      summary: 'a group schedule of a product that wipes disks asks to confirm the number of PCs the group has now (--yes: no question)',
    },
    { syntax: 'schedule ls [--tz ZONE]', summary: "schedules with their next and last run (times in the server's zone, or --tz)" },
    { syntax: 'schedule show <name> [--tz ZONE]', summary: 'one schedule and its last runs' },
    { syntax: 'schedule rm <name>' },
  ],
  options: {
    group: { type: 'string' },
    request: { type: 'string' },
    prop: { type: 'string', multiple: true },
    wake: { type: 'boolean' },
    at: { type: 'string' },
    every: { type: 'string' },
    cron: { type: 'string' },
    tz: { type: 'string' },
    missed: { type: 'string' },
    'late-window': { type: 'string' },
    ...YES_OPTION,
  },
  async run(ctx) {
    switch (ctx.args[0]) {
      case 'add': {
        const group = ctx.string('group');
        const words = ctx.args.slice(1);
        const whenCount = ['at', 'every', 'cron'].filter((o) => ctx.has(o)).length;
        // <name> [<product>] with --group; <name> <hostname> [<product>] without.
        const max = group ? 2 : 3;
        if (whenCount !== 1 || words.length < max - 1 || words.length > max || words.some((w) => w === '')) throw ctx.usage('add');
        const [name, ...rest] = words as [string, ...string[]];
        const target = group ? { kind: 'group', id: group } : { kind: 'client', id: rest.shift()! };
        const body: Record<string, unknown> = {
          name,
          target,
          productId: rest[0] ?? null,
          actionRequest: ctx.string('request') ?? 'setup',
          properties: parseProps(ctx.strings('prop')),
          wake: ctx.flag('wake'),
        };
        const at = ctx.string('at');
        if (at !== undefined) body['at'] = atOption(at);
        if (ctx.has('every')) body['every'] = ctx.string('every');
        if (ctx.has('cron')) body['cron'] = ctx.string('cron');
        if (ctx.has('tz')) body['timezone'] = ctx.string('tz');
        if (ctx.has('missed')) body['missedPolicy'] = ctx.string('missed');
        if (ctx.has('late-window')) {
          const late = ctx.string('late-window') ?? '';
          // Checked here: Number("1h") is NaN, which reached the server as null.
          if (!/^\d+$/.test(late.trim())) throw new UsageError(`--late-window takes a number of seconds (e.g. 3600), got "${late}"`);
          body['lateWindowSeconds'] = Number(late);
        }
        const api = await ctx.api();
        // A group schedule that wipes disks: the same confirmation as a group action, for the PCs
        // the group has now (each run acts on the PCs it has then).
        const { confirm, notice } = group && rest[0]
          ? await confirmWipe(ctx, api, group, rest[0], body['actionRequest'] as ActionRequest, body['properties'] as Record<string, PropertyValue>, { nothingDone: 'no schedule added', when: 'at each run of this schedule (the group now)' })
          : { confirm: undefined, notice: null };
        if (confirm !== undefined) body['confirm'] = confirm;
        const s = await api.call<ScheduleView>('POST', '/api/v1/schedules', body);
        // The server took --tz, so it is a zone: the next run is shown in it.
        const zone = await displayZone(ctx.string('tz'), api);
        ctx.out(s, () => [...(notice ? [notice] : []), `added schedule ${s.name}: ${what(s)} for ${s.target.kind} ${s.target.id}, ${when(s, zone)}; next run ${showTime(s.nextRun, zone) ?? '-'}`].join('\n'));
        return 0;
      }
      case 'ls': {
        ctx.operands('ls', 0);
        const api = await ctx.api();
        const zone = await displayZone(ctx.string('tz'), api);
        const list = await api.call<ScheduleView[]>('GET', '/api/v1/schedules');
        ctx.out(list, () =>
          list.length
            ? table(['NAME', 'WHEN', 'TARGET', 'DOES', 'MISSED', 'NEXT RUN', 'LAST RUN'], list.map((s) => [s.name, when(s, zone), `${s.target.kind} ${s.target.id}`, what(s), s.missedPolicy, showTime(s.nextRun, zone), showTime(s.lastRun, zone)]))
            : 'no schedules yet: netimage schedule add <name> --every "weekdays 07:00" --group <room> <product> --wake',
        );
        return 0;
      }
      case 'show': {
        const [name] = ctx.operands('show', 1);
        const api = await ctx.api();
        const zone = await displayZone(ctx.string('tz'), api);
        const s = await api.call<ScheduleDetail>('GET', `/api/v1/schedules/${seg(name)}`);
        ctx.out(s, () => scheduleText(s, zone));
        return 0;
      }
      case 'rm': {
        const [name] = ctx.operands('rm', 1);
        await (await ctx.api()).call('DELETE', `/api/v1/schedules/${seg(name)}`);
        ctx.out({ removed: name }, () => `removed schedule ${name}`);
        return 0;
      }
      default:
        throw ctx.unknownVerb();
    }
  },
};
