// What a CLI command group is (one file each in commands/) and what it is given when it runs: the
// words after its name, its parsed options, the admin API and the output. main.ts dispatches.
import type { ParseArgsOptionDescriptor } from 'node:util';
import { AdminClient, readCredentials } from './api-client.ts';
import { NetimageError } from '../../lib/errors.ts';

/** Wrong use of the CLI: one line on stderr, exit code 2, nothing sent to the server. */
export class UsageError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'UsageError';
  }
}

/** Help text headings, in the order the help lists them. */
export const SECTIONS = {
  server: 'Server',
  admin: "Admin (talks to the server; --url URL, --token TOKEN, or saved by 'login')",
} as const;
export type Section = keyof typeof SECTIONS;

export interface UsageLine {
  /** What follows "netimage ", e.g. "client rm <hostname>". */
  syntax: string;
  summary?: string;
}

/** A command's exit code, or 'running' when the process goes on (serve: until a signal). */
export type CommandResult = number | 'running';

export interface CommandGroup {
  /** The first word of the command line. */
  name: string;
  section: Section;
  /** One line per verb; the help text and usage errors are made from these. */
  usage: UsageLine[];
  /** Options only this group takes, besides GLOBAL_OPTIONS (node:util parseArgs descriptors). */
  options?: Record<string, ParseArgsOptionDescriptor>;
  run(ctx: CommandContext): Promise<CommandResult>;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, ParseArgsOptionDescriptor> = {
  config: { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export function usageText(line: UsageLine): string {
  return `netimage ${line.syntax}`;
}

export class CommandContext {
  readonly group: CommandGroup;
  /** The words after the group name, e.g. ['add', 'pc01'] for `netimage client add pc01`. */
  readonly args: readonly string[];
  readonly #values: OptionValues;
  #api: AdminClient | null = null;

  constructor(group: CommandGroup, args: readonly string[], values: OptionValues) {
    this.group = group;
    this.args = args;
    this.#values = values;
  }

  string(name: string): string | undefined {
    const v = this.#values[name];
    return typeof v === 'string' ? v : undefined;
  }

  strings(name: string): string[] {
    const v = this.#values[name];
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  }

  flag(name: string): boolean {
    return this.#values[name] === true;
  }

  /** Whether the option was given at all (an empty string counts: `--group ""` clears a group). */
  has(name: string): boolean {
    return this.#values[name] !== undefined;
  }

  /** The usage error of a verb of this group (its usage line), or of the group (all its lines). */
  usage(verb?: string): UsageError {
    const prefix = verb === undefined ? this.group.name : `${this.group.name} ${verb}`;
    const lines = this.group.usage.filter((l) => l.syntax === prefix || l.syntax.startsWith(prefix + ' '));
    if (lines.length === 1) return new UsageError(`usage: ${usageText(lines[0]!)}`);
    return new UsageError(['usage:', ...(lines.length ? lines : this.group.usage).map((l) => `  ${usageText(l)}`)].join('\n'));
  }

  /** For a group with verbs, when the first word is none of them. */
  unknownVerb(): UsageError {
    const given = this.args[0];
    return new UsageError(`${given === undefined ? `${this.group.name} needs a command` : `unknown command: ${this.group.name} ${given}`}; ${this.usage().message}`);
  }

  /**
   * The operands after `verb` (or after the group name when the group has no verbs): exactly
   * `count` non-empty words, else the verb's usage error. Extra words are refused rather than
   * ignored: `client rm pc01 pc02` must not remove pc01 only.
   */
  operands(verb: string | undefined, count: 0): [];
  operands(verb: string | undefined, count: 1): [string];
  operands(verb: string | undefined, count: 2): [string, string];
  operands(verb: string | undefined, count: number): string[] {
    const rest = verb === undefined ? this.args : this.args.slice(1);
    if (rest.length !== count || rest.some((a) => a === '')) throw this.usage(verb);
    return [...rest];
  }

  /** Print data as JSON with --json, else the text. */
  out(data: unknown, text: () => string): void {
    process.stdout.write((this.flag('json') ? JSON.stringify(data, null, 2) : text()) + '\n');
  }

  /** The admin API with --token, else NETIMAGE_TOKEN, else the token `login` saved. */
  async api(): Promise<AdminClient> {
    if (this.#api) return this.#api;
    const saved = await readCredentials();
    this.#api = new AdminClient(await this.serverUrl(), this.string('token') ?? process.env['NETIMAGE_TOKEN'] ?? saved.token ?? null);
    return this.#api;
  }

  /** Where the server is: --url, else NETIMAGE_URL, else what `login` saved, else this host's configured port. */
  async serverUrl(): Promise<string> {
    const saved = await readCredentials();
    return this.string('url') ?? process.env['NETIMAGE_URL'] ?? saved.url ?? `http://127.0.0.1:${await configuredPort(this.string('config'))}`;
  }
}

async function configuredPort(configFile: string | undefined): Promise<number> {
  try {
    const { loadConfig } = await import('../config/load.ts');
    return loadConfig({ file: configFile ?? null }).http.port;
  } catch {
    return 8080; // the default port when there is no readable config
  }
}

/** `--prop name=value` pairs as a property-values object. */
export function parseProps(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--prop takes name=value, got "${item}"`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** A path segment of the admin API. */
export const seg = encodeURIComponent;
