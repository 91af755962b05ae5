// `netimage schedule ...`: one-shot and recurring actions (and wakes) for a client or a group.
import { parseProps, seg, UsageError, type CommandGroup } from '../command.ts';
import { table } from '../format.ts';

interface ScheduleView {
  name: string;
  kind: string;
  at: string | null;
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

const when = (s: ScheduleView) => (s.kind === 'once' ? `once ${s.at}` : `${s.cron}${s.timezone ? ` (${s.timezone})` : ''}`);
const what = (s: ScheduleView) => [s.productId ? `${s.actionRequest} ${s.productId}` : null, s.wake ? 'wake' : null].filter(Boolean).join(' + ');

/** `schedule show`: the schedule as an admin reads it, then its last runs (newest first, as the server sends them). */
function scheduleText(s: ScheduleDetail): string {
  const props = Object.entries(s.properties ?? {}).map(([k, v]) => `${k}=${String(v)}`);
  const lines = [
    `schedule ${s.name}${s.enabled === false ? ' (disabled)' : ''}`,
    `  when:     ${when(s)}`,
    `  target:   ${s.target.kind} ${s.target.id}`,
    `  does:     ${what(s) || '-'}${props.length ? ` (${props.join(' ')})` : ''}`,
    `  missed:   ${s.missedPolicy}${s.lateWindowSeconds !== undefined ? `, late window ${s.lateWindowSeconds} s` : ''}`,
    `  next run: ${s.nextRun ?? '-'}`,
    `  last run: ${s.lastRun ?? '-'}`,
  ];
  if (!s.runs.length) return [...lines, '', 'no runs yet'].join('\n');
  return [...lines, '', table(['DUE', 'HANDLED', 'OUTCOME', 'MESSAGE'], s.runs.map((r) => [r.due, r.handled, r.outcome, r.message]))].join('\n');
}

/**
 * "2026-12-02 07:00" (in --tz when given, else this machine's time zone) or a full ISO time -> ISO.
 * --tz counts for --at too: it was ignored, and "06:30 --tz Europe/Berlin" ran at 06:30 UTC.
 */
export function absoluteTime(text: string, timeZone?: string): string {
  if (/(Z|[+-]\d{2}:?\d{2})$/i.test(text.trim())) return text.trim();
  const wall = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  const d = new Date(text.trim().replace(' ', 'T'));
  if (Number.isNaN(d.getTime())) throw new UsageError(`--at "${text}" is not a time like 2026-12-02 07:00 or 2026-12-02T07:00:00+01:00`);
  if (timeZone === undefined || !wall) return d.toISOString();
  const [, y, mo, da, h, mi, s] = wall.map(Number) as number[];
  const asUtc = Date.UTC(y!, mo! - 1, da!, h!, mi!, s || 0);
  // The zone's offset at that moment (twice: the first guess may sit across a DST change).
  let t = asUtc - zoneOffsetMs(asUtc, timeZone);
  t = asUtc - zoneOffsetMs(t, timeZone);
  return new Date(t).toISOString();
}

/** How far `timeZone`'s wall clock is ahead of UTC at instant `t`. */
function zoneOffsetMs(t: number, timeZone: string): number {
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }).formatToParts(t);
  } catch {
    throw new UsageError(`unknown time zone "${timeZone}" (an IANA name like Europe/Berlin)`);
  }
  const n = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(n('year'), n('month') - 1, n('day'), n('hour'), n('minute'), n('second')) - (t - (t % 1000));
}

export const scheduleCommand: CommandGroup = {
  name: 'schedule',
  section: 'admin',
  usage: [
    {
      syntax:
        'schedule add <name> (--at TIME | --every "weekdays 07:00" | --cron "0 7 * * 1-5") [--tz ZONE] (<hostname> | --group G) [<product>] [--request setup] [--prop k=v ...] [--wake] [--missed skip|run-once] [--late-window SECONDS]',
    },
    { syntax: 'schedule ls', summary: 'schedules with their next and last run' },
    { syntax: 'schedule show <name>', summary: 'one schedule and its last runs' },
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
        if (at !== undefined) body['at'] = absoluteTime(at, ctx.string('tz'));
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
        const s = await (await ctx.api()).call<ScheduleView>('POST', '/api/v1/schedules', body);
        ctx.out(s, () => `added schedule ${s.name}: ${what(s)} for ${s.target.kind} ${s.target.id}, ${when(s)}; next run ${s.nextRun ?? '-'}`);
        return 0;
      }
      case 'ls': {
        ctx.operands('ls', 0);
        const list = await (await ctx.api()).call<ScheduleView[]>('GET', '/api/v1/schedules');
        ctx.out(list, () =>
          list.length
            ? table(['NAME', 'WHEN', 'TARGET', 'DOES', 'MISSED', 'NEXT RUN', 'LAST RUN'], list.map((s) => [s.name, when(s), `${s.target.kind} ${s.target.id}`, what(s), s.missedPolicy, s.nextRun, s.lastRun]))
            : 'no schedules yet: netimage schedule add <name> --every "weekdays 07:00" --group <room> <product> --wake',
        );
        return 0;
      }
      case 'show': {
        const [name] = ctx.operands('show', 1);
        const s = await (await ctx.api()).call<ScheduleDetail>('GET', `/api/v1/schedules/${seg(name)}`);
        ctx.out(s, () => scheduleText(s));
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
