// `netimage token reset`: a new admin token written straight into the store (needs the data dir,
// not the server: this is the way back in when the token is lost).
import type { CommandGroup } from '../command.ts';
import { saveCredentials } from '../api-client.ts';

export const tokenCommand: CommandGroup = {
  name: 'token',
  section: 'server',
  usage: [{ syntax: 'token reset [--config FILE]', summary: 'replace the admin token (local, needs the data dir)' }],
  async run(ctx) {
    if (ctx.args[0] !== 'reset') throw ctx.usage();
    ctx.operands('reset', 0);
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
    });
    await store.close();
    const saved = await saveCredentials({ url: `http://127.0.0.1:${config.http.port}`, token });
    process.stdout.write(`New admin token (old ones no longer work):\n  ${token}\nSaved for this user's CLI in ${saved}\n`);
    return 0;
  },
};
