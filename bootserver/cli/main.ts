#!/usr/bin/env node
// `netimage`: runs the server (serve) and talks to its admin API (everything else).
//
// This file only dispatches: the first word names a command group in GROUPS, and that group's
// file in commands/ does the rest. To add a command group (say `netimage depot ...`):
//   1. Write commands/depot.ts exporting a CommandGroup (command.ts): its name, help section
//      (SECTIONS in command.ts; add a heading there if none fits), one usage line per verb (the
//      help text and usage errors are made from them), the options only it takes (node:util
//      parseArgs descriptors), and run(ctx). run reads ctx.args (the
//      words after the group name) through ctx.operands(verb, n), options through
//      ctx.string/strings/flag, calls the admin API through `await ctx.api()`, prints through
//      ctx.out(data, text) (--json comes free) and throws ctx.usage(verb) on wrong use.
//   2. Add it to GROUPS below, where the help text should list it.
//   3. Drive it through the real binary in test/bootserver/cli*.test.ts, wrong input included.
// To add a verb to a group, add its usage line and its case in that group's file. An option
// name means one thing across all groups (they are parsed together); main() checks that.
// Keep command files quick to load: every run loads them all, so the server, the store and the
// config loader are imported inside run(), where needed, not at the top.
import { parseArgs, type ParseArgsOptionDescriptor } from 'node:util';
import { NetimageError } from '../../lib/errors.ts';
import { ConfigError } from '../config/error.ts';
import { CommandContext, GLOBAL_OPTIONS, UsageError, type CommandGroup, type CommandResult, type OptionValues } from './command.ts';
import { groupHelp, helpText } from './usage.ts';
import { NETIMAGE_VERSION } from '../version.ts';
import { serveCommand } from './commands/serve.ts';
import { doctorCommand } from './commands/doctor.ts';
import { tokenCommand } from './commands/token.ts';
import { storeCommand } from './commands/store.ts';
import { loginCommand } from './commands/login.ts';
import { clientCommand } from './commands/client.ts';
import { groupCommand } from './commands/group.ts';
import { productCommand, propsCommand } from './commands/product.ts';
import { actionCommand } from './commands/action.ts';
import { roomCommand } from './commands/room.ts';
import { statesCommand } from './commands/states.ts';
import { jobCommand, jobsCommand } from './commands/jobs.ts';
import { inventoryCommand } from './commands/inventory.ts';
import { imagesCommand } from './commands/images.ts';
import { wakeCommand } from './commands/wake.ts';
import { scheduleCommand } from './commands/schedule.ts';
import { serviceCommand } from './commands/service.ts';
import { depotCommand } from './commands/depot.ts';
import { osCommand } from './commands/os.ts';
import { userCommand } from './commands/user.ts';
import { auditCommand } from './commands/audit.ts';

export const GROUPS: readonly CommandGroup[] = [
  serveCommand,
  doctorCommand,
  tokenCommand,
  storeCommand,
  serviceCommand,
  loginCommand,
  clientCommand,
  groupCommand,
  productCommand,
  propsCommand,
  actionCommand,
  roomCommand,
  statesCommand,
  jobsCommand,
  jobCommand,
  inventoryCommand,
  imagesCommand,
  wakeCommand,
  scheduleCommand,
  depotCommand,
  osCommand,
  userCommand,
  auditCommand,
];

/** Every group's options with the global ones, for one parse; one name must mean one thing. */
function allOptions(groups: readonly CommandGroup[]): Record<string, ParseArgsOptionDescriptor> {
  const all: Record<string, ParseArgsOptionDescriptor> = { ...GLOBAL_OPTIONS };
  for (const g of groups) {
    for (const [name, spec] of Object.entries(g.options ?? {})) {
      const seen = all[name];
      if (seen && JSON.stringify(seen) !== JSON.stringify(spec)) throw new Error(`option --${name} of ${g.name} differs from another group's --${name}`);
      all[name] = spec;
    }
  }
  return all;
}

function parse(argv: string[]): { positionals: string[]; values: OptionValues; given: string[] } {
  try {
    const { positionals, values, tokens } = parseArgs({ args: argv, options: allOptions(GROUPS), allowPositionals: true, tokens: true });
    return { positionals, values, given: tokens.flatMap((t) => (t.kind === 'option' ? [t.name] : [])) };
  } catch (error) {
    // node:util's own wording ("Unknown option '--x'", "Option '--mac <value>' argument missing").
    if (String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message);
    throw error;
  }
}

export async function main(argv: string[]): Promise<CommandResult> {
  const { positionals, values, given } = parse(argv);
  const [name, ...args] = positionals;
  // What an admin types first on a new machine (it was node's "Unknown option '--version'").
  if (values['version'] || (name === 'version' && args.length === 0)) {
    process.stdout.write(`netimage ${NETIMAGE_VERSION}\n`);
    return 0;
  }
  if (!name || name === 'help') {
    const topic = GROUPS.find((g) => g.name === args[0]);
    process.stdout.write((topic ? groupHelp(topic) : helpText(NETIMAGE_VERSION, GROUPS)) + '\n');
    return name || values['help'] ? 0 : 2;
  }
  const group = GROUPS.find((g) => g.name === name);
  if (!group) throw new UsageError(`unknown command: ${positionals.join(' ')}\n\n${helpText(NETIMAGE_VERSION, GROUPS)}`);
  if (values['help']) {
    process.stdout.write(groupHelp(group) + '\n');
    return 0;
  }
  const foreign = given.find((o) => !(o in GLOBAL_OPTIONS) && !(o in (group.options ?? {})));
  if (foreign) throw new UsageError(`${group.name} does not take --${foreign} (netimage ${group.name} --help lists what it takes)`);
  return group.run(new CommandContext(group, withListAlias(group, args), values));
}

/**
 * `ls` and `list` both work wherever one of them is a verb: some groups say `ls` (user, schedule,
 * depot), others `list` (client, group, product), and the docs and an admin's fingers mix them.
 */
export function withListAlias(group: CommandGroup, args: string[]): string[] {
  const verbs = new Set(group.usage.map((u) => u.syntax.split(' ')[1]));
  const other = args[0] === 'ls' ? 'list' : args[0] === 'list' ? 'ls' : null;
  return other && !verbs.has(args[0]!) && verbs.has(other) ? [other, ...args.slice(1)] : args;
}

/** One line on stderr for what the user can fix; a stack only for what is a bug. */
function report(error: unknown): number {
  const e = error as Error & { code?: unknown; path?: unknown };
  if (error instanceof ConfigError) process.stderr.write(e.message + '\n');
  else if (error instanceof NetimageError) process.stderr.write(`netimage: ${e.message}\n`); // usage, API answers, refusals
  else if (e.code === 'EACCES' || e.code === 'EADDRINUSE') process.stderr.write(`netimage: ${e.message} (run netimage doctor)\n`);
  else if (typeof e.code === 'string' && typeof e.path === 'string') process.stderr.write(`netimage: ${e.message}\n`); // a file the user named
  else process.stderr.write(`netimage: ${e.stack ?? String(error)}\n`);
  return error instanceof UsageError ? 2 : 1;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (result) => {
      if (result !== 'running') process.exitCode = result;
    },
    (error: unknown) => {
      process.exitCode = report(error);
    },
  );
}
