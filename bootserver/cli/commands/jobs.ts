// `netimage jobs` (the job list, or live progress) and `netimage job log` (one job's agent log).
// Jobs are named by their id or by the first characters of it, as `netimage jobs` shows them.
import { UsageError, seg, type CommandGroup } from '../command.ts';
import { ApiError, type AdminClient } from '../api-client.ts';
import { jobEventLine, table, type JobLineEvent } from '../format.ts';
import { formatInZone } from '../../../lib/zoned-time.ts';
import { displayZone, showTime } from '../time.ts';
import { followEvents, followReconnectMs } from '../follow.ts';
import { cut, pageOf } from '../page.ts';

export interface JobView {
  id: string;
  clientId: string;
  productId: string;
  state: string;
  attempt: number;
  maxAttempts: number;
  percent: number | null;
  updated: string;
  error: string | null;
  /** The site whose server served the current attempt. */
  site?: string | null;
}

/** Job states after which nothing more happens to that job. */
export const FINAL_STATES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'exhausted', 'cancelled']);
/** The most jobs one answer of GET /api/v1/jobs holds. */
const JOBS_PAGE_MAX = 5000;
/** How many of the newest jobs a shortened id is looked up in. */
const PREFIX_SEARCH_LIMIT = 1000;
const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A full job id from a full or shortened one, or an error that says why not. */
export async function resolveJobId(api: AdminClient, given: string): Promise<string> {
  const id = given.trim().toLowerCase();
  if (FULL_ID.test(id)) return id;
  if (!/^[0-9a-f-]+$/.test(id)) throw new UsageError(`"${given}" is not a job id (the JOB column of netimage jobs, e.g. 3f2a9c1e)`);
  const jobs = await api.call<JobView[]>('GET', `/api/v1/jobs?limit=${PREFIX_SEARCH_LIMIT}`);
  const matches = jobs.filter((j) => j.id.startsWith(id));
  if (matches.length === 1) return matches[0]!.id;
  // Worded like the server's answer for an unknown full id.
  if (matches.length === 0) throw new ApiError(404, `404: no job id starts with ${id} among the newest ${PREFIX_SEARCH_LIMIT} jobs (netimage jobs lists them)`);
  throw new UsageError(`${id} is the start of ${matches.length} job ids: give more of it`);
}

export const jobsCommand: CommandGroup = {
  name: 'jobs',
  section: 'admin',
  usage: [
    { syntax: 'jobs [--client C | --group G] [--last] [--limit N] [--tz ZONE]', summary: "list jobs, newest first (--last: each PC's newest job only; --limit: how many, 100 by default, every PC's with --last)" },
    { syntax: 'jobs --follow [--client C | --group G] [--job ID] [--tz ZONE]', summary: "follow their progress live (times in the server's zone, or --tz)" },
  ],
  options: {
    client: { type: 'string' },
    group: { type: 'string' },
    last: { type: 'boolean' },
    limit: { type: 'string' },
    job: { type: 'string' },
    follow: { type: 'boolean', short: 'f' },
    tz: { type: 'string' },
  },
  async run(ctx) {
    ctx.operands(undefined, 0);
    const api = await ctx.api();
    const client = ctx.string('client');
    const given = ctx.string('job');
    const group = ctx.string('group');
    const zone = await displayZone(ctx.string('tz'), api);
    if (ctx.flag('follow') || given !== undefined) {
      if (ctx.flag('last')) throw new UsageError('--last lists jobs; --follow follows one PC (--client), one room (--group), one job (--job) or all');
      if (client !== undefined && group !== undefined) throw new UsageError('--follow takes --client or --group, not both');
      const job = given === undefined ? undefined : await resolveJobId(api, given);
      const q = new URLSearchParams();
      if (client) q.set('client', client);
      if (group) q.set('group', group);
      if (job) q.set('job', job);
      // Said once the server took the stream: an unknown PC, room or job is refused first (404).
      // The lines carry the time of day only: the zone and its offset are said here once.
      const what = job ? `job ${job}` : client ? `the jobs of ${client}` : group ? `the jobs of the PCs in ${group}` : 'all jobs';
      const following = `following ${what} (times ${zone}, ${formatInZone(new Date(), zone).slice(20)}; Ctrl-C to stop)\n`;
      const reconnectMs = followReconnectMs();
      // A job filter replays that job's history on every (re)connection: each event is shown once.
      const shown = new Set<number>();
      await followEvents(
        api,
        q.size ? `?${q.toString()}` : '',
        {
          onEvent: (data) => {
            if ((data as { type?: string }).type === 'wake') {
              // A client notice (did not wake), not a job event.
              const n = data as { ts: string; clientId: string; message: string };
              process.stdout.write(`${formatInZone(n.ts, zone).slice(11, 19)}  ${n.clientId.padEnd(14)} ${n.message}\n`);
              return undefined;
            }
            const e = data as JobLineEvent & { jobId: string; id?: number };
            if (job && typeof e.id === 'number') {
              if (shown.has(e.id)) return undefined;
              shown.add(e.id);
            }
            process.stdout.write(jobEventLine(e, zone) + '\n');
            return job && e.kind === 'state' && FINAL_STATES.has(e.state) ? 'stop' : undefined;
          },
          onOpen: () => void process.stdout.write(following),
          onLost: (line) => void process.stderr.write(line + '\n'),
          // Only a job's history comes again; for a PC, a room or all jobs the gap stays a gap.
          onBack: (line) => void process.stderr.write(`${line}${job ? '' : '; what happened while it was away is not shown here (netimage jobs lists where the jobs are)'}\n`),
        },
        reconnectMs,
      );
      return 0;
    }
    // --last is one row per PC: all of them, as far as one answer goes (a room of 150 PCs is not cut at 100).
    const page = pageOf(ctx.string('limit'), ctx.flag('last') ? JOBS_PAGE_MAX : 100, JOBS_PAGE_MAX, 'jobs');
    const q = new URLSearchParams();
    if (client) q.set('client', client);
    if (group) q.set('group', group);
    if (ctx.flag('last')) q.set('per_client', '1');
    q.set('limit', String(page.ask));
    const { rows: jobs, more } = cut(await api.call<JobView[]>('GET', `/api/v1/jobs?${q.toString()}`), page, { one: 'job', many: 'jobs' });
    if (more) process.stderr.write(`netimage: ${more}\n`);
    ctx.out(jobs, () =>
      jobs.length
        ? table(
            ['JOB', 'CLIENT', 'PRODUCT', 'STATE', 'TRY', '%', 'UPDATED', 'SITE', 'ERROR'],
            jobs.map((j) => [j.id.slice(0, 8), j.clientId, j.productId, j.state, `${j.attempt}/${j.maxAttempts}`, j.percent === null ? null : Math.round(j.percent), showTime(j.updated, zone), j.site, j.error]),
          )
        : client
          ? `no jobs for ${client} yet`
          : group
            ? `no jobs in ${group} yet`
            : 'no jobs yet',
    );
    return 0;
  },
};

export const jobCommand: CommandGroup = {
  name: 'job',
  section: 'admin',
  usage: [{ syntax: 'job log <job>', summary: "the agent's full log of a job (uploaded when it ends)" }],
  async run(ctx) {
    if (ctx.args[0] !== 'log') throw ctx.unknownVerb();
    const [given] = ctx.operands('log', 1);
    const api = await ctx.api();
    const id = await resolveJobId(api, given);
    const text = await api.getText(`/api/v1/jobs/${seg(id)}/log`);
    ctx.out({ job: id, log: text }, () => text.replace(/\n$/, ''));
    return 0;
  },
};
