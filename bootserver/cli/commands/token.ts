// `netimage token reset`: a new admin token written straight into the store (needs the data dir,
// not the server: this is the way back in when the token is lost).
import { userInfo } from 'node:os';
import type { CommandGroup } from '../command.ts';
import { readCredentials, saveCredentials } from '../api-client.ts';
import { askToConfirm, YES_OPTION } from '../confirm-wipe.ts';

/** What a reset breaks, said before it is done: logins elsewhere fail afterwards with a bare 401. */
const RESET_BREAKS =
  'token reset replaces the admin token: every CLI login, script (NETIMAGE_TOKEN) and web UI sign-in with the current one stops working (user accounts and their tokens keep working)';

export const tokenCommand: CommandGroup = {
  name: 'token',
  section: 'server',
  usage: [{ syntax: 'token reset [--config FILE] [--yes]', summary: 'replace the admin token (local, needs the data dir; asks first)' }],
  options: { ...YES_OPTION },
  async run(ctx) {
    if (ctx.args[0] !== 'reset') throw ctx.usage();
    ctx.operands('reset', 0);
    await askToConfirm(ctx, RESET_BREAKS, 'reset', 'nothing changed');
    // Loaded here, not at the top: see serve.ts.
    const { loadConfig } = await import('../../config/load.ts');
    const { openConfiguredStore } = await import('../../store/open.ts');
    const { newAdminToken, sha256Hex } = await import('../../service/tokens.ts');
    const config = loadConfig({ file: ctx.string('config') ?? null });
    const store = await openConfiguredStore(config);
    const token = newAdminToken();
    await store.transaction(async (tx) => {
      await tx.deleteAdminTokens();
      await tx.addAdminTokenHash(sha256Hex(token), 'token reset');
      // Not through the API, so no request hook writes it: who replaced the admin token is what
      // an audit is read for after an incident. The actor is this machine's login, never the token.
      await tx.addAudit({ ts: new Date().toISOString(), actor: `local:${userInfo().username}`, role: 'admin', via: 'cli', source: 'local', method: 'LOCAL', route: 'netimage token reset', clients: [], detail: {}, status: 200 });
    });
    await store.close();
    // The token is this data dir's: saved with this machine's URL. A loopback URL saved before
    // (serve's own, which knows its real port) is kept: the configured port may differ from it.
    const before = (await readCredentials()).url;
    const local = before && /^https?:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\/?$/.test(before) ? before : `http://127.0.0.1:${config.http.port}`;
    const saved = await saveCredentials({ url: local, token });
    process.stdout.write(`New admin token (old ones no longer work):\n  ${token}\nSaved for this user's CLI in ${saved}\n`);
    return 0;
  },
};
