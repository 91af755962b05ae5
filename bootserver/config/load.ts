// The one config loader: YAML file (optional) + NETIMAGE_* environment overrides, validated by
// the zod schema. A bad value yields one line naming the key, where it came from and what is allowed.
import { readFileSync, existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';
import { ConfigError } from './error.ts';
import { hideUrlPasswords } from '../../lib/redact.ts';

export { ConfigError };

/** Default places a config file is looked for when none is named. */
export const DEFAULT_CONFIG_PATHS = ['/etc/netimage/netimage.yaml'];

export interface LoadConfigOptions {
  /** Explicit file (from --config or NETIMAGE_CONFIG). Missing explicit files are an error. */
  file?: string | null;
  env?: NodeJS.ProcessEnv;
  /** Values applied over file and env (tests, CLI flags). */
  overrides?: Record<string, unknown>;
}

/** Short names the set-up scripts share with the server (run.sh, loaders, boot image build). */
export const ENV_ALIASES: Record<string, string> = { NETIMAGE_BOOT_ROOT: 'paths.bootRoot' };

/** `http.port` -> `NETIMAGE_HTTP_PORT`, `boot.bootUnknownClients` -> `NETIMAGE_BOOT_BOOT_UNKNOWN_CLIENTS`. */
export function envNameForKey(path: readonly string[]): string {
  return 'NETIMAGE_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

type Leaf = { path: string[]; example: unknown };

function leaves(value: unknown, path: string[] = []): Leaf[] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => leaves(v, [...path, k]));
  }
  return [{ path, example: value }];
}

/** Every config key that can be set from the environment, with its variable name. */
export function environmentKeys(): { key: string; env: string }[] {
  return leaves(configSchema.parse({})).map((l) => ({ key: l.path.join('.'), env: envNameForKey(l.path) }));
}

function parseEnvValue(raw: string, example: unknown): unknown {
  if (Array.isArray(example) && !raw.trim().startsWith('[')) {
    return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  }
  if (typeof example === 'string' || (example === null && !/^(null|~)$/.test(raw.trim()))) {
    // Strings stay strings even when they look like numbers ("0.0.0.0", "08").
    return raw === '' && example === null ? null : raw;
  }
  try {
    return parseYaml(raw) as unknown;
  } catch {
    return raw;
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const [i, key] of path.entries()) {
    if (i === path.length - 1) {
      node[key] = value;
    } else {
      const next = node[key];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
  }
}

function describeIssue(issue: z.core.$ZodIssue, sources: Map<string, string>, input: unknown): string {
  const key = issue.path.join('.') || '(top level)';
  let received: unknown = input;
  for (const p of issue.path) received = received && typeof received === 'object' ? (received as Record<PropertyKey, unknown>)[p as PropertyKey] : undefined;
  const from = sources.get(key) ?? 'config file';
  if (issue.code === 'unrecognized_keys') {
    const names = issue.keys.join(', ');
    return `config error: unknown key ${issue.path.length ? `${key}.` : ''}${names} (in ${from}); allowed keys are listed in docs/configuration.md`;
  }
  // A refused URL may carry a password (the error goes to the console and the journal).
  const got = received === undefined ? '' : `, got ${hideUrlPasswords(JSON.stringify(received))}`;
  return `config error: ${key}: ${issue.message}${got} (from ${from})`;
}

/**
 * Load and validate the config. Throws ConfigError with a one-line message for the first problem
 * (all problems are in the message, one per line, first one first).
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const sources = new Map<string, string>();
  let input: Record<string, unknown> = {};

  const file = options.file ?? env['NETIMAGE_CONFIG'] ?? DEFAULT_CONFIG_PATHS.find((p) => existsSync(p)) ?? null;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`config error: cannot read config file ${file}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (error) {
      throw new ConfigError(`config error: ${file} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ConfigError(`config error: ${file} must hold a mapping of settings (see docs/configuration.md)`);
      }
      input = parsed as Record<string, unknown>;
    }
    for (const leaf of leaves(input)) sources.set(leaf.path.join('.'), file);
  }

  for (const leaf of leaves(configSchema.parse({}))) {
    const key = leaf.path.join('.');
    const alias = Object.keys(ENV_ALIASES).find((a) => ENV_ALIASES[a] === key && env[a] !== undefined);
    const name = env[envNameForKey(leaf.path)] !== undefined || !alias ? envNameForKey(leaf.path) : alias;
    const raw = env[name];
    if (raw === undefined) continue;
    setPath(input, leaf.path, parseEnvValue(raw, leaf.example));
    sources.set(leaf.path.join('.'), name);
  }

  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    setPath(input, key.split('.'), value);
    sources.set(key, 'command line');
  }

  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => describeIssue(i, sources, input)).join('\n'));
  }
  return result.data;
}
