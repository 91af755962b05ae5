// `netimage user ...`: users (admin or operator with their groups), passwords and API tokens.
import { seg, UsageError, type CommandContext, type CommandGroup } from '../command.ts';
import { table } from '../format.ts';
import { ApiError } from '../api-client.ts';
import { readNewPassword } from '../read-password.ts';

interface UserView {
  name: string;
  role: string;
  groups: string[];
  hasPassword: boolean;
}

interface TokenView {
  name: string;
  created: string;
  lastUsed: string | null;
}

/** --groups a,b as a list (an empty string: none). */
function groupsOption(ctx: CommandContext): string[] | undefined {
  const v = ctx.string('groups');
  return v === undefined ? undefined : v.split(',').map((g) => g.trim()).filter((g) => g !== '');
}

/** Checked here too, before the password prompt: the server refuses it after the password was typed twice. */
function adminWithoutGroups(role: string, groups: string[] | undefined): void {
  if (role === 'admin' && groups && groups.length > 0) throw new UsageError('--groups is for operators: an admin sees every room (give --role operator --groups ..., or --role admin alone)');
}

async function tokenVerb(ctx: CommandContext): Promise<number> {
  const api = await ctx.api();
  const verb = ctx.args[1];
  const rest = ctx.args.slice(2);
  const usage = () => ctx.usage(`token ${verb ?? ''}`.trim());
  if (verb === 'create') {
    if (rest.length !== 2 || rest.some((a) => a === '')) throw usage();
    const [user, name] = rest as [string, string];
    const r = await api.call<TokenView & { token: string }>('POST', `/api/v1/users/${seg(user)}/tokens`, { name });
    ctx.out(r, () => `API token ${name} of ${user} (shown once; the server keeps only its hash):\n  ${r.token}\nUse it with: netimage login ${r.token}`);
  } else if (verb === 'ls') {
    if (rest.length !== 1 || rest[0] === '') throw usage();
    const tokens = await api.call<TokenView[]>('GET', `/api/v1/users/${seg(rest[0]!)}/tokens`);
    ctx.out(tokens, () => table(['TOKEN', 'CREATED', 'LAST USED'], tokens.map((t) => [t.name, t.created, t.lastUsed])));
  } else if (verb === 'rm') {
    if (rest.length !== 2 || rest.some((a) => a === '')) throw usage();
    const [user, name] = rest as [string, string];
    await api.call('DELETE', `/api/v1/users/${seg(user)}/tokens/${seg(name)}`);
    ctx.out({ removed: name }, () => `revoked token ${name} of ${user}`);
  } else throw ctx.usage('token');
  return 0;
}

export const userCommand: CommandGroup = {
  name: 'user',
  section: 'admin',
  usage: [
    { syntax: 'user ls' },
    { syntax: 'user add <name> --role admin|operator [--groups G1,G2] [--token-only]', summary: 'asks for a password (stdin when not a terminal); an operator acts on its groups only' },
    { syntax: 'user edit <name> [--role admin|operator] [--groups G1,G2]' },
    { syntax: 'user passwd <name>', summary: 'a new password (ends the sessions of that user)' },
    { syntax: 'user rm <name>' },
    { syntax: 'user token create <name> <token-name>', summary: 'an API token for the CLI, shown once' },
    { syntax: 'user token ls <name>' },
    { syntax: 'user token rm <name> <token-name>' },
  ],
  options: {
    role: { type: 'string' },
    groups: { type: 'string' },
    'token-only': { type: 'boolean' },
  },
  async run(ctx) {
    const verb = ctx.args[0];
    if (verb === 'token') return tokenVerb(ctx);
    const api = await ctx.api();
    switch (verb) {
      case 'ls': {
        ctx.operands('ls', 0);
        const users = await api.call<UserView[]>('GET', '/api/v1/users');
        ctx.out(users, () => table(['USER', 'ROLE', 'GROUPS', 'PASSWORD'], users.map((u) => [u.name, u.role, u.role === 'admin' ? 'all' : u.groups.join(','), u.hasPassword ? 'set' : 'tokens only'])));
        return 0;
      }
      case 'add': {
        const [name] = ctx.operands('add', 1);
        const role = ctx.string('role');
        if (!role) throw ctx.usage('add');
        adminWithoutGroups(role, groupsOption(ctx));
        // Said before the password is typed twice: the server would refuse only after it.
        if (!ctx.flag('token-only') && (await api.call<UserView[]>('GET', '/api/v1/users')).some((u) => u.name === name.trim())) {
          throw new ApiError(409, `409: user ${name} already exists`);
        }
        const password = ctx.flag('token-only') ? null : await readNewPassword(name);
        const u = await api.call<UserView>('POST', '/api/v1/users', { name, role, groups: groupsOption(ctx) ?? [], password });
        ctx.out(u, () => `added ${u.role} ${u.name}${u.role === 'operator' ? ` for ${u.groups.join(', ') || 'no groups yet'}` : ''}`);
        return 0;
      }
      case 'edit': {
        const [name] = ctx.operands('edit', 1);
        const groups = groupsOption(ctx);
        const role = ctx.string('role');
        if (!role && !groups) throw ctx.usage('edit');
        if (role) adminWithoutGroups(role, groups);
        const u = await api.call<UserView>('PATCH', `/api/v1/users/${seg(name)}`, { ...(role ? { role } : {}), ...(groups ? { groups } : {}) });
        ctx.out(u, () => `changed ${u.name}: ${u.role}${u.role === 'operator' ? ` for ${u.groups.join(', ') || 'no groups'}` : ''}`);
        return 0;
      }
      case 'passwd': {
        const [name] = ctx.operands('passwd', 1);
        const password = await readNewPassword(name);
        await api.call('PATCH', `/api/v1/users/${seg(name)}`, { password });
        ctx.out({ user: name }, () => `new password set for ${name}; their sessions have ended`);
        return 0;
      }
      case 'rm': {
        const [name] = ctx.operands('rm', 1);
        await api.call('DELETE', `/api/v1/users/${seg(name)}`);
        ctx.out({ removed: name }, () => `removed ${name} with their tokens and sessions`);
        return 0;
      }
      default:
        throw ctx.unknownVerb();
    }
  },
};
