// `netimage doctor`: local checks of what a working bootserver needs (see ../doctor.ts).
import type { CommandGroup } from '../command.ts';
import type { Config } from '../../config/schema.ts';
import type { Check } from '../doctor.ts';
import { ApiError } from '../api-client.ts';
import type { CommandContext } from '../command.ts';

/** Does a netimage server answer at `url`, and does it take the CLI's token? */
async function serverChecks(url: string, ctx: CommandContext): Promise<Check[]> {
  let health = null as { ok?: boolean; version?: string } | null;
  let why = '';
  try {
    const res = await fetch(`${url.replace(/\/+$/, '')}/api/v1/health`, { signal: AbortSignal.timeout(3000) });
    if (res.ok) health = (await res.json().catch(() => null)) as typeof health;
    else why = `HTTP ${res.status}`;
  } catch (error) {
    const e = error as Error & { cause?: Error };
    why = e.cause?.message ?? e.message;
  }
  if (!health?.ok) {
    return [{ name: 'server', ok: false, detail: `no netimage server answers at ${url}${why ? ` (${why})` : ''}: start it (bash run.sh start, or systemctl start netimage), or give its address with --url` }];
  }
  const checks: Check[] = [{ name: 'server', ok: true, detail: `netimage ${health.version ?? '?'} answers at ${url}` }];
  try {
    await (await ctx.api()).call('GET', '/api/v1/groups');
    checks.push({ name: 'cli login', ok: true, detail: 'the admin API takes this CLI\'s token' });
  } catch (error) {
    const status = error instanceof ApiError ? error.status : 0;
    checks.push({ name: 'cli login', ok: false, detail: status === 401 ? 'the server refuses this CLI\'s token: netimage login <API token> (or --token, NETIMAGE_TOKEN)' : (error as Error).message });
  }
  return checks;
}

export const doctorCommand: CommandGroup = {
  name: 'doctor',
  section: 'server',
  usage: [{ syntax: 'doctor [--config FILE] [--url URL]', summary: 'check loaders, boot image, ports, config, and that the server (--url, else the saved or configured one) answers the CLI' }],
  async run(ctx) {
    // Loaded here, not at the top: see serve.ts.
    const { loadConfig } = await import('../../config/load.ts');
    const { runDoctor } = await import('../doctor.ts');
    const { openConfiguredStore, describeStore } = await import('../../store/open.ts');
    let config: Config;
    try {
      config = loadConfig({ file: ctx.string('config') ?? null });
    } catch (error) {
      process.stdout.write(`✘ config      ${(error as Error).message}\n`);
      return 1;
    }
    const checks = await runDoctor(config);
    const idx = checks.findIndex((c) => c.name === 'store');
    try {
      const store = await openConfiguredStore(config);
      const version = await store.readSchemaVersion();
      await store.close();
      checks[idx] = { name: 'store', ok: true, detail: `${describeStore(config)} (schema ${version})` };
    } catch (error) {
      checks[idx] = { name: 'store', ok: false, detail: (error as Error).message };
    }
    // Bindable ports and a built image say nothing about a server that runs: ask the one the
    // CLI talks to (--url, NETIMAGE_URL, the saved login, else this host's configured port).
    checks.push(...(await serverChecks(await ctx.serverUrl(), ctx)));
    for (const c of checks) process.stdout.write(`${c.ok ? '✔' : '✘'} ${c.name.padEnd(14)} ${c.detail}\n`);
    const failed = checks.filter((c) => !c.ok).length;
    process.stdout.write(failed ? `${failed} problem(s) found\n` : 'all checks passed\n');
    return failed ? 1 : 0;
  },
};
