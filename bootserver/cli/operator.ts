// CLI commands of the operator features: wake, group wake targets, schedules. main.ts hands
// over every command it does not know; null means "not mine".
import type { AdminClient } from './api-client.ts';
import { table } from './format.ts';

export class OperatorUsageError extends Error {}

/** Options these commands add to the CLI's parseArgs (merged in main.ts). */
export const OPERATOR_OPTIONS = {
  wake: { type: 'boolean' },
  port: { type: 'string' },
  at: { type: 'string' },
  cron: { type: 'string' },
  every: { type: 'string' },
  tz: { type: 'string' },
  missed: { type: 'string' },
  'late-window': { type: 'string' },
  'target-dir': { type: 'string' },
  'no-enable': { type: 'boolean' },
} as const;

export const OPERATOR_USAGE = `
Wake-on-LAN and schedules:
  netimage wake <hostname> | --group G        send magic packets now
  netimage group wake-target <group> [<broadcast> [--port 9] | clear]   show or set where a room's packets go
  netimage action set ... --wake              also wake the PC(s) right away
  netimage schedule add <name> (--at TIME | --every "weekdays 07:00" | --cron "0 7 * * 1-5") [--tz ZONE]
                        (<hostname> | --group G) [<product> [--request setup] [--prop k=v ...]] [--wake]
                        [--missed skip|run-once] [--late-window SECONDS]
  netimage schedule ls | schedule show <name> | schedule rm <name>`;

export interface OperatorValues {
  group?: string | undefined;
  wake?: boolean | undefined;
  port?: string | undefined;
  at?: string | undefined;
  cron?: string | undefined;
  every?: string | undefined;
  tz?: string | undefined;
  missed?: string | undefined;
  'late-window'?: string | undefined;
  request?: string | undefined;
  prop?: string[] | undefined;
}

interface WakeRecordView {
  clientId: string;
  status: string;
  address: string;
  deadline: string;
}

const enc = encodeURIComponent;

/** "2026-12-02 07:00" (this machine's time zone) or a full ISO time -> ISO with offset. */
function absoluteTime(text: string): string {
  if (/(Z|[+-]\d{2}:?\d{2})$/i.test(text.trim())) return text.trim();
  const d = new Date(text.trim().replace(' ', 'T'));
  if (Number.isNaN(d.getTime())) throw new OperatorUsageError(`--at "${text}" is not a time like 2026-12-02 07:00 or 2026-12-02T07:00:00+01:00`);
  return d.toISOString();
}

/** Wake the target of an action that was just set (--wake on `action set`). */
export async function wakeAfterAction(api: AdminClient, target: { client?: string | undefined; group?: string | undefined }): Promise<string> {
  if (target.group) {
    const r = await api.call<{ woken: WakeRecordView[]; skipped: { clientId: string; reason: string }[] }>('POST', `/api/v1/groups/${enc(target.group)}/wake`);
    return `woke ${r.woken.length} client(s) of ${target.group}${r.skipped.length ? `; skipped ${r.skipped.map((s) => `${s.clientId} (${s.reason})`).join(', ')}` : ''}`;
  }
  const r = await api.call<WakeRecordView>('POST', `/api/v1/clients/${enc(target.client!)}/wake`);
  return `sent a wake-on-lan packet to ${r.clientId} via ${r.address}`;
}

export async function runOperatorCommand(
  api: AdminClient,
  words: string[],
  values: OperatorValues,
  out: (data: unknown, text: () => string) => void,
  parseProps: (list: string[] | undefined) => Record<string, unknown>,
): Promise<number | null> {
  const [cmd, sub, ...rest] = words;
  if (cmd === 'wake') {
    if (!values.group && !sub) throw new OperatorUsageError('usage: netimage wake <hostname> | --group G');
    const text = await wakeAfterAction(api, values.group ? { group: values.group } : { client: sub });
    out({ message: text }, () => text);
    return 0;
  }
  if (cmd === 'group' && sub === 'wake-target') {
    const group = rest[0];
    if (!group) throw new OperatorUsageError('usage: netimage group wake-target <group> [<broadcast> [--port 9] | clear]');
    const path = `/api/v1/groups/${enc(group)}/wake-target`;
    if (rest[1] === 'clear') {
      await api.call('DELETE', path);
    } else if (rest[1]) {
      const port = values.port === undefined ? 9 : Number(values.port);
      await api.call('PUT', path, { broadcast: rest[1], port });
    }
    const t = await api.call<{ broadcast: string | null; port: number; from: string }>('GET', path);
    out(t, () => `${group}: magic packets go to ${t.broadcast ?? '(none: set one)'}:${t.port} (${t.from === 'group' ? "the group's own target" : 'server default'})`);
    return 0;
  }
  if (cmd === 'schedule') return runScheduleCommand(api, sub, rest, values, out, parseProps);
  return null;
}

interface ScheduleView {
  id: string;
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
  enabled: boolean;
  nextRun: string | null;
  lastRun: string | null;
}

const when = (s: ScheduleView) => (s.kind === 'once' ? `once ${s.at}` : `${s.cron}${s.timezone ? ` (${s.timezone})` : ''}`);
const what = (s: ScheduleView) => [s.productId ? `${s.actionRequest} ${s.productId}` : null, s.wake ? 'wake' : null].filter(Boolean).join(' + ');

async function runScheduleCommand(
  api: AdminClient,
  sub: string | undefined,
  rest: string[],
  values: OperatorValues,
  out: (data: unknown, text: () => string) => void,
  parseProps: (list: string[] | undefined) => Record<string, unknown>,
): Promise<number> {
  switch (sub) {
    case 'add': {
      const [name, ...more] = rest;
      const target = values.group ? { kind: 'group', id: values.group } : more[0] ? { kind: 'client', id: more.shift()! } : null;
      const productId = more[0] ?? null;
      const whenCount = [values.at, values.every, values.cron].filter((v) => v !== undefined).length;
      if (!name || !target || whenCount !== 1) {
        throw new OperatorUsageError('usage: netimage schedule add <name> (--at TIME | --every "weekdays 07:00" | --cron EXPR) (<hostname> | --group G) [<product>] [--wake]');
      }
      const body: Record<string, unknown> = {
        name,
        target,
        productId,
        actionRequest: values.request ?? 'setup',
        properties: parseProps(values.prop),
        wake: values.wake ?? false,
      };
      if (values.at !== undefined) body['at'] = absoluteTime(values.at);
      if (values.every !== undefined) body['every'] = values.every;
      if (values.cron !== undefined) body['cron'] = values.cron;
      if (values.tz !== undefined) body['timezone'] = values.tz;
      if (values.missed !== undefined) body['missedPolicy'] = values.missed;
      if (values['late-window'] !== undefined) body['lateWindowSeconds'] = Number(values['late-window']);
      const s = await api.call<ScheduleView>('POST', '/api/v1/schedules', body);
      out(s, () => `added schedule ${s.name}: ${what(s)} for ${s.target.kind} ${s.target.id}, ${when(s)}; next run ${s.nextRun ?? '-'}`);
      return 0;
    }
    case 'ls':
    case 'list': {
      const list = await api.call<ScheduleView[]>('GET', '/api/v1/schedules');
      out(list, () =>
        list.length
          ? table(['NAME', 'WHEN', 'TARGET', 'DOES', 'MISSED', 'NEXT RUN', 'LAST RUN'], list.map((s) => [s.name, when(s), `${s.target.kind} ${s.target.id}`, what(s), s.missedPolicy, s.nextRun, s.lastRun]))
          : 'no schedules yet: netimage schedule add <name> --every "weekdays 07:00" --group <room> <product> --wake',
      );
      return 0;
    }
    case 'show': {
      if (!rest[0]) throw new OperatorUsageError('usage: netimage schedule show <name>');
      const s = await api.call<ScheduleView & { runs: unknown[] }>('GET', `/api/v1/schedules/${enc(rest[0])}`);
      out(s, () => JSON.stringify(s, null, 2));
      return 0;
    }
    case 'rm': {
      if (!rest[0]) throw new OperatorUsageError('usage: netimage schedule rm <name>');
      await api.call('DELETE', `/api/v1/schedules/${enc(rest[0])}`);
      out({ removed: rest[0] }, () => `removed schedule ${rest[0]}`);
      return 0;
    }
    default:
      throw new OperatorUsageError('usage: netimage schedule add|ls|show|rm ...');
  }
}
