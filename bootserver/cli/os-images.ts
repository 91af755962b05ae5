// `netimage depot ls|verify|rm` and `netimage os build`: clients of the admin API
// (bootserver/depot/http.ts, bootserver/os-images/http.ts).
import type { AdminClient } from './api-client.ts';
import { table } from './format.ts';

export const OS_IMAGES_USAGE = `  netimage depot ls                          entries of the depot (root filesystems, ...)
  netimage depot verify <kind/name>           re-hash an entry against its manifest
  netimage depot rm <kind/name>
  netimage os build <os> [--packages "a b"] [--mirror URL] [--proxy URL] [--rebuild]
                                             build a root filesystem into the depot (os: debian-12)`;

export class CliUsageError extends Error {}

interface EntryView {
  id: string;
  created: string;
  bytes: number;
  files: { path: string }[];
}

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
}

const mib = (bytes: number | null) => (bytes === null ? '-' : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

function entryPath(id: string | undefined, usage: string): string {
  if (!id || !/^[a-z-]+\/[a-z0-9][a-z0-9._-]*$/.test(id)) throw new CliUsageError(usage);
  return id;
}

export async function depotCommand(api: AdminClient, sub: string | undefined, args: string[], print: (data: unknown, text: () => string) => void): Promise<number> {
  switch (sub) {
    case 'ls': {
      const entries = await api.call<EntryView[]>('GET', '/api/v1/depot');
      print(entries, () => (entries.length ? table(['ENTRY', 'SIZE', 'FILES', 'CREATED'], entries.map((e) => [e.id, mib(e.bytes), e.files.length, e.created.slice(0, 19).replace('T', ' ')])) : 'the depot is empty (netimage os build debian-12)'));
      return 0;
    }
    case 'verify': {
      const id = entryPath(args[0], 'usage: netimage depot verify <kind/name> (see netimage depot ls)');
      const r = await api.call<{ ok: boolean; problems: string[]; bytes: number }>('POST', `/api/v1/depot/${id}/verify`);
      print(r, () => (r.ok ? `${id}: ok (${mib(r.bytes)} verified)` : `${id}: DAMAGED\n${r.problems.map((p) => `  ${p}`).join('\n')}`));
      return r.ok ? 0 : 1;
    }
    case 'rm': {
      const id = entryPath(args[0], 'usage: netimage depot rm <kind/name>');
      await api.call('DELETE', `/api/v1/depot/${id}`);
      print({ removed: id }, () => `removed ${id}`);
      return 0;
    }
    default:
      throw new CliUsageError('usage: netimage depot ls | verify <kind/name> | rm <kind/name>');
  }
}

/** Start a build and follow its output until it ends; exit code 0 only when the entry is in the depot. */
export async function osBuildCommand(
  api: AdminClient,
  os: string | undefined,
  options: { packages?: string | undefined; mirror?: string | undefined; proxy?: string | undefined; rebuild?: boolean | undefined },
  write: (text: string) => void,
  pollMs = 1000,
): Promise<number> {
  if (!os) throw new CliUsageError('usage: netimage os build <os> [--packages "a b"] [--mirror URL] [--proxy URL] [--rebuild]   (os: debian-12)');
  const body = {
    os,
    packages: (options.packages ?? '').split(/[\s,]+/).filter(Boolean),
    mirror: options.mirror ?? null,
    proxy: options.proxy ?? null,
    rebuild: options.rebuild ?? false,
  };
  let build = await api.call<BuildView>('POST', '/api/v1/os/builds', body);
  if (build.cached) {
    write(`${build.entryId} is in the depot already (${mib(build.bytes)}); --rebuild builds it again\n`);
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
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
