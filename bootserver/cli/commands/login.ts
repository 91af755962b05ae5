// `netimage login`: check an API token (the first-start admin token or a user's, from
// `netimage user token create`) against the server and save it for this user's CLI.
import type { CommandGroup } from '../command.ts';
import { AdminClient, saveCredentials } from '../api-client.ts';

export const loginCommand: CommandGroup = {
  name: 'login',
  section: 'admin',
  usage: [{ syntax: 'login <api-token> [--url URL]' }],
  async run(ctx) {
    const [token] = ctx.operands(undefined, 1);
    const api = new AdminClient(await ctx.serverUrl(), token);
    const me = await api.call<{ user: { name: string; role: string } }>('GET', '/api/v1/session');
    const path = await saveCredentials({ url: api.url, token });
    process.stdout.write(`logged in to ${api.url} as ${me.user.name} (${me.user.role}); saved in ${path}\n`);
    return 0;
  },
};
