// Which Debian mirror this server's own apt uses: the default for root filesystem builds and
// for the online_repository property. Reads /etc/apt/sources.list (one-line style) and
// /etc/apt/sources.list.d/*.sources (deb822) and *.list. Parsing is pure.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface AptSource {
  uri: string;
  suite: string;
  components: string[];
}

function trimUri(uri: string): string {
  return uri.replace(/\/+$/, '');
}

/** "deb [opts] URI SUITE COMP..." lines; deb-src, comments and disabled lines are skipped. */
export function parseOneLineSources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)((?:\s+\S+)*)$/.exec(line);
    if (!m) continue;
    out.push({ uri: trimUri(m[1]!), suite: m[2]!, components: m[3]!.trim().split(/\s+/).filter(Boolean) });
  }
  return out;
}

/** deb822 stanzas (Types/URIs/Suites/Components); "Enabled: no" and non-deb types are skipped. */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | null = null;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^\s/.test(line) && last) {
        fields.set(last, `${fields.get(last)} ${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) fields.set((last = m[1]!.toLowerCase()), m[2]!.trim());
    }
    const words = (key: string) => (fields.get(key) ?? '').split(/\s+/).filter(Boolean);
    if (!words('types').includes('deb') || /^(no|false)$/i.test(fields.get('enabled') ?? '')) continue;
    for (const uri of words('uris')) for (const suite of words('suites')) out.push({ uri: trimUri(uri), suite, components: words('components') });
  }
  return out;
}

/** Every enabled binary source of the apt configuration below `aptDir` (normally /etc/apt). */
export async function readAptSources(aptDir: string): Promise<AptSource[]> {
  const out: AptSource[] = [];
  const main = await readFile(join(aptDir, 'sources.list'), 'utf8').catch(() => '');
  out.push(...parseOneLineSources(main));
  const dir = join(aptDir, 'sources.list.d');
  for (const name of (await readdir(dir).catch(() => [])).sort()) {
    const text = await readFile(join(dir, name), 'utf8').catch(() => '');
    if (name.endsWith('.sources')) out.push(...parseDeb822Sources(text));
    else if (name.endsWith('.list')) out.push(...parseOneLineSources(text));
  }
  return out;
}

/** The source apt uses for `suite` (first match, as apt's order), or null. */
export function sourceForSuite(sources: AptSource[], suite: string): AptSource | null {
  return sources.find((s) => s.suite === suite) ?? null;
}
