// `netimage os build <os>`: build a root filesystem into the depot (bootserver/os-images/) and
// follow its output until it ends; exit 0 only when the entry is in the depot.
// `netimage os builds`: the builds since the server started (also those that setting an OS
// install action started), with their state and progress.
// `netimage os installs [--state waiting]`: OS installs and their first-boot state.
import { displayZone, showTime } from '../time.ts';
import type { CommandGroup } from '../command.ts';
import { table } from '../format.ts';
import { mib } from './depot.ts';

interface BuildView {
  id: string;
  entryId: string;
  state: string;
  percent: number;
  cached: boolean;
  error: string | null;
  seconds: number | null;
  bytes: number | null;
  lines?: string[];
  next?: number;
  started?: string;
}

interface InstallView {
  jobId: string;
  clientId: string;
  productId: string;
  state: string;
  deadline: string | null;
}

const POLL_MS = 1000;

export const osCommand: CommandGroup = {
  name: 'os',
  section: 'admin',
  usage: [
    { syntax: 'os build <os> [--packages "a b"] [--mirror URL] [--proxy URL] [--rebuild]', summary: 'build a root filesystem into the depot (os: debian-12)' },
    { syntax: 'os builds', summary: 'root filesystem builds since the server started, with progress' },
    { syntax: 'os installs [--state waiting|reported|timed_out]', summary: 'OS installs and their first-boot report' },
  ],
  options: {
    packages: { type: 'string' },
    mirror: { type: 'string' },
    proxy: { type: 'string' },
    rebuild: { type: 'boolean' },
    state: { type: 'string' },
    tz: { type: 'string' },
  },
  async run(ctx) {
    if (ctx.args[0] === 'builds') {
      ctx.operands('builds', 0);
      const api = await ctx.api();
      const zone = await displayZone(ctx.string('tz'), api);
      const builds = await api.call<BuildView[]>('GET', '/api/v1/os/builds');
      ctx.out(builds, () =>
        builds.length
          ? table(
              ['BUILD', 'ENTRY', 'STATE', 'PROGRESS', 'STARTED', 'ERROR'],
              builds.map((b) => [b.id, b.entryId, b.cached ? 'cached' : b.state, `${Math.round(b.percent)}%`, showTime(b.started, zone), b.error ?? '']),
            )
          : 'no builds since the server started (netimage os build debian-12)',
      );
      return 0;
    }
    if (ctx.args[0] === 'installs') {
      ctx.operands('installs', 0);
      const state = ctx.string('state');
      const api = await ctx.api();
      const zone = await displayZone(ctx.string('tz'), api);
      const rows = await api.call<InstallView[]>('GET', `/api/v1/os/installs${state ? `?state=${encodeURIComponent(state)}` : ''}`);
      ctx.out(rows, () =>
        rows.length
          ? table(
              ['CLIENT', 'PRODUCT', 'STATE', 'DEADLINE', 'JOB'],
              rows.map((r) => [r.clientId, r.productId, r.state, r.state === 'waiting' ? showTime(r.deadline, zone) : '', r.jobId]),
            )
          : 'no OS installs',
      );
      return 0;
    }
    if (ctx.args[0] !== 'build') throw ctx.unknownVerb();
    const [os] = ctx.operands('build', 1);
    const api = await ctx.api();
    const write = (text: string) => process.stdout.write(text);
    let build = await api.call<BuildView>('POST', '/api/v1/os/builds', {
      os,
      packages: (ctx.string('packages') ?? '').split(/[\s,]+/).filter(Boolean),
      mirror: ctx.string('mirror') ?? null,
      proxy: ctx.string('proxy') ?? null,
      rebuild: ctx.flag('rebuild'),
    });
    if (build.cached) {
      ctx.out(build, () => `${build.entryId} is in the depot already (${mib(build.bytes)}); --rebuild builds it again`);
      return 0;
    }
    write(`building ${build.entryId} (build ${build.id})\n`);
    let next = 0;
    for (;;) {
      build = await api.call<BuildView>('GET', `/api/v1/os/builds/${build.id}?after=${next}`);
      for (const line of build.lines ?? []) write(`[${String(build.percent).padStart(3)}%] ${line}\n`);
      next = build.next ?? next;
      if (build.state === 'done') {
        write(`${build.entryId}: built in ${build.seconds?.toFixed(0)} s, ${mib(build.bytes)}\n`);
        return 0;
      }
      if (build.state === 'failed') {
        write(`build failed: ${build.error}\n`);
        return 1;
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  },
};
