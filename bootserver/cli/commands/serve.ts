// `netimage serve`: run the bootserver in this process until SIGINT/SIGTERM.
import { fstatSync } from 'node:fs';
import type { CommandGroup } from '../command.ts';
import { saveCredentials } from '../api-client.ts';
import { NETIMAGE_VERSION } from '../../version.ts';

/**
 * Whether stdout is the journal: systemd sets JOURNAL_STREAM to the device:inode of the stream it
 * connected, and children inherit the variable, so it counts only when stdout is that stream.
 */
export function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env): boolean {
  const [dev, ino] = (env['JOURNAL_STREAM'] ?? '').split(':');
  if (!dev || !ino) return false;
  try {
    const st = fstatSync(1, { bigint: true });
    return String(st.dev) === dev && String(st.ino) === ino;
  } catch {
    return false;
  }
}

export const serveCommand: CommandGroup = {
  name: 'serve',
  section: 'server',
  usage: [{ syntax: 'serve [--config FILE]', summary: 'run the bootserver (DHCP/TFTP/HTTP)' }],
  async run(ctx) {
    // Loaded here, not at the top: the server's modules take seconds to load on a busy machine,
    // which every other command would pay too.
    const { loadConfig } = await import('../../config/load.ts');
    const config = loadConfig({ file: ctx.string('config') ?? null });
    const { createLogger } = await import('../../../lib/logger.ts');
    const { startBootServer, guessAdvertisedIp } = await import('../../server.ts');
    const log = createLogger({ level: config.log.level });
    const server = await startBootServer(config, log);
    // Before anything is printed: whoever waits for the banner (systemd, a script, a test) may stop
    // the server right after it, and a SIGTERM before the handler would skip the orderly stop
    // (the data dir's server.pid would stay behind).
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping');
      server.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'stop failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    const advertised = config.advertisedIp ?? guessAdvertisedIp() ?? '127.0.0.1';
    const lines = [
      `netimage ${NETIMAGE_VERSION} is running`,
      `  admin API   ${server.url}/api/v1   (docs: ${server.url}/api/docs)`,
      `  boot files  ${config.paths.bootRoot}  (HTTP ${server.url}/boot/, TFTP ${server.protocols.tftpPort === null ? 'off' : `port ${server.protocols.tftpPort}`})`,
      `  DHCP        ${server.protocols.dhcp ? `${config.dhcp.mode} mode` : 'off'}; clients reach us at ${advertised}`,
      `  data        ${config.dataDir}`,
      `  site        ${server.service.site}`,
    ];
    if (server.initialAdminToken && stdoutIsJournal()) {
      // Started by systemd: stdout is the journal, which more people can read than the token should reach.
      const saved = await saveCredentials({ url: server.url, token: server.initialAdminToken }).catch((error: unknown) => {
        log.error({ err: error }, 'could not save the first-start admin token');
        return null;
      });
      lines.push(
        '',
        saved
          ? `First start: the admin token was written to ${saved} (mode 0600) and is not shown here (the journal keeps this output).`
          : 'First start: the admin token could not be saved (see the error above); create a new one with: netimage token reset',
      );
    } else if (server.initialAdminToken) {
      const saved = await saveCredentials({ url: server.url, token: server.initialAdminToken }).catch(() => null);
      lines.push(
        '',
        'First start: this is the admin token. It is shown only now; the server keeps only its hash.',
        `  ${server.initialAdminToken}`,
        saved ? `Saved for this user's CLI in ${saved}. Elsewhere: netimage login <token> --url ${server.url}` : `Use it with: netimage login <token> --url ${server.url}`,
        'Lost it? netimage token reset',
      );
    }
    process.stdout.write(lines.join('\n') + '\n');
    return 'running';
  },
};
