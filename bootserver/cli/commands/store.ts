// `netimage store migrate --to postgres://…`: move this server's SQLite store into PostgreSQL
// (local: reads the data dir, writes the database; stop the server first).
import type { CommandGroup } from '../command.ts';
import { UsageError } from '../command.ts';

export const storeCommand: CommandGroup = {
  name: 'store',
  section: 'server',
  usage: [{ syntax: 'store migrate --to postgres://… [--replace] [--config FILE]', summary: "copy the SQLite store into PostgreSQL and verify every table (stop the server first)" }],
  options: { to: { type: 'string' }, replace: { type: 'boolean' } },
  async run(ctx) {
    if (ctx.args[0] !== 'migrate') throw ctx.unknownVerb();
    ctx.operands('migrate', 0);
    const to = ctx.string('to');
    if (!to || !/^postgres(ql)?:\/\/\S+$/.test(to)) throw new UsageError(`store migrate needs --to postgres://user@host/database; ${ctx.usage('migrate').message}`);
    // Loaded here, not at the top: see serve.ts.
    const { loadConfig } = await import('../../config/load.ts');
    const { sqlitePath, describeStore } = await import('../../store/open.ts');
    const { copySqliteToPostgres } = await import('../../store/copy.ts');
    const config = loadConfig({ file: ctx.string('config') ?? null });
    const source = sqlitePath(config.dataDir);
    const target = describeStore({ dataDir: config.dataDir, store: { url: to } });
    const checks = await copySqliteToPostgres({ sqlitePath: source, targetUrl: to, replace: ctx.flag('replace') });
    const bad = checks.filter((c) => !c.ok);
    ctx.out({ source, target, tables: checks, ok: bad.length === 0 }, () => {
      const width = Math.max(...checks.map((c) => c.table.length));
      const lines = checks.map((c) =>
        c.ok
          ? `✔ ${c.table.padEnd(width)}  ${c.sourceRows} rows  sha256 ${c.sourceHash.slice(0, 16)}`
          : `✘ ${c.table.padEnd(width)}  ${c.sourceRows} rows in SQLite, ${c.targetRows} in PostgreSQL; sha256 ${c.sourceHash.slice(0, 16)} vs ${c.targetHash.slice(0, 16)}`,
      );
      const summary = bad.length
        ? `${bad.length} table(s) differ after the copy: keep using the SQLite store`
        : `copied ${source} to ${target}: every table matches.\nNext: set store.url in the config (or NETIMAGE_STORE_URL) and restart the server.`;
      return [...lines, summary].join('\n');
    });
    return bad.length ? 1 : 0;
  },
};
