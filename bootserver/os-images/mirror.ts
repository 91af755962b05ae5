// Checks against a Debian mirror before anything is queued: is the mirror reachable (through
// the proxy when one is set), does it have the release, and does it have every package asked
// for. Fetched with curl (proxy support, clear error lines); package lists are cached per
// InRelease content, so only the first check after a mirror update downloads Packages.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CommandError, run } from '../../lib/process.ts';
import type { AptSource } from './apt-sources.ts';
import { NetimageError } from '../../lib/errors.ts';
import { hideUrlPasswords } from '../../lib/redact.ts';

export class MirrorError extends NetimageError {
  constructor(message: string) {
    super('unavailable', message);
    this.name = 'MirrorError';
  }
}

export interface MirrorOptions {
  proxy: string | null;
  /** Seconds for one request (connect + transfer). */
  timeoutSeconds?: number;
}

/**
 * curl's arguments and standard input for one download. The proxy goes in through a config on
 * stdin (`--config -`), never on the command line: its URL may carry a password, and a command
 * line is world-readable (/proc/<pid>/cmdline, `ps`). Pure.
 */
export function curlInvocation(url: string, file: string, options: MirrorOptions): { args: string[]; input: string } {
  const timeout = String(options.timeoutSeconds ?? 60);
  // An empty proxy also stops curl from taking one from the environment.
  const quoted = (options.proxy ?? '').replace(/[\\"]/g, (c) => `\\${c}`);
  if (/[\n\r]/.test(quoted)) throw new MirrorError('proxy URL: line breaks are not allowed');
  return { args: ['-fsS', '--connect-timeout', '10', '--max-time', timeout, '-o', file, '--config', '-', url], input: `proxy = "${quoted}"\n` };
}

/** Fetch a URL to a file with curl; throws MirrorError with curl's own one-line reason. */
async function curlTo(url: string, file: string, options: MirrorOptions): Promise<void> {
  const { args, input } = curlInvocation(url, file, options);
  try {
    await run('curl', args, { input });
  } catch (error) {
    const reason = error instanceof CommandError ? error.stderr.trim().split('\n').pop() : (error as Error).message;
    throw new MirrorError(hideUrlPasswords(`${url}: ${reason || 'download failed'}${options.proxy ? ` (through proxy ${options.proxy})` : ''}`));
  }
}

/** Names a Packages index makes installable: its packages and what they provide. Pure. */
export function parsePackageNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.startsWith('Package: ')) names.add(line.slice(9).trim());
    else if (line.startsWith('Provides: ')) {
      for (const item of line.slice(10).split(',')) {
        const name = item.trim().split(/[\s(]/)[0];
        if (name) names.add(name);
      }
    }
  }
  return names;
}

export class MirrorChecker {
  private readonly names = new Map<string, Set<string>>();

  /** InRelease of one source; proves the mirror is reachable and has the suite. */
  private async inRelease(source: AptSource, options: MirrorOptions, dir: string): Promise<string> {
    const file = join(dir, `InRelease-${createHash('sha256').update(source.uri + source.suite).digest('hex').slice(0, 8)}`);
    await curlTo(`${source.uri}/dists/${source.suite}/InRelease`, file, { ...options, timeoutSeconds: options.timeoutSeconds ?? 20 });
    const text = await readFile(file, 'utf8');
    if (!/^(Suite|Codename):/m.test(text)) throw new MirrorError(`${source.uri}/dists/${source.suite}/InRelease is not an apt release file`);
    return text;
  }

  private async packageIndex(source: AptSource, component: string, options: MirrorOptions, dir: string): Promise<string> {
    const base = `${source.uri}/dists/${source.suite}/${component}/binary-amd64/Packages`;
    const file = join(dir, `Packages-${source.suite}-${component}`);
    try {
      await curlTo(`${base}.xz`, `${file}.xz`, options);
      return (await run('xz', ['-dc', `${file}.xz`], { maxBuffer: 512 * 1024 * 1024 })).stdout;
    } catch (xzError) {
      try {
        await curlTo(`${base}.gz`, `${file}.gz`, options);
        return gunzipSync(await readFile(`${file}.gz`)).toString('utf8');
      } catch {
        throw xzError;
      }
    }
  }

  /**
   * Check every source is reachable and return the package names they offer (main component
   * of each). Throws MirrorError naming the first source that fails.
   */
  async check(sources: AptSource[], options: MirrorOptions): Promise<Set<string>> {
    const dir = await mkdtemp(join(tmpdir(), 'netimage-mirror-'));
    try {
      const all = new Set<string>();
      for (const source of sources) {
        const release = await this.inRelease(source, options, dir);
        for (const component of source.components) {
          const key = `${source.uri} ${source.suite} ${component} ${createHash('sha256').update(release).digest('hex')}`;
          let names = this.names.get(key);
          if (!names) {
            names = parsePackageNames(await this.packageIndex(source, component, options, dir));
            this.names.set(key, names);
          }
          for (const n of names) all.add(n);
        }
      }
      return all;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
