// `netimage login`: check an admin token against the server and save it for this user's CLI.
import type { CommandGroup } from '../command.ts';
import { AdminClient, saveCredentials } from '../api-client.ts';

export const loginCommand: CommandGroup = {
  name: 'login',
  section: 'admin',
  usage: [{ syntax: 'login <admin-token> [--url URL]' }],
  async run(ctx) {
    const [token] = ctx.operands(undefined, 1);
    const api = new AdminClient(await ctx.serverUrl(), token);
    await api.call('GET', '/api/v1/groups');
    const path = await saveCredentials({ url: api.url, token });
    process.stdout.write(`logged in to ${api.url}; saved in ${path}\n`);
    return 0;
  },
};
