// A tiny Debian mirror on 127.0.0.1 for validation tests: InRelease and Packages.xz per suite,
// made from a package list; plus an apt config dir whose sources point at it, so the server's
// "own apt mirror" is this loopback mirror and no test reaches an outside address.
import { createServer, type Server } from 'node:http';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';
import { run } from '../../../lib/process.ts';
import { BASE_PACKAGES } from '../../../bootserver/os-images/spec.ts';
import { tempDir } from '../../helpers/tempdir.ts';

export interface MiniMirror {
  /** http://127.0.0.1:PORT/debian */
  url: string;
  securityUrl: string;
  /** An apt config dir (sources.list) naming this mirror, for config osImages.aptSources. */
  aptDir: string;
  /** Request paths seen, in order. */
  requests: string[];
}

function stanzas(names: string[]): string {
  return names.map((n) => `Package: ${n}\nVersion: 1.0\nArchitecture: amd64\n${n === 'mail-agent' ? 'Provides: mail-transport-agent\n' : ''}`).join('\n');
}

export interface MiniMirrorOptions {
  extraPackages?: string[];
  /** Never answer apt itself (User-Agent "Debian APT…"): a build hangs in apt-get update, the quick checks (curl) still pass. */
  stallApt?: boolean;
}

export async function startMiniMirror(t: ExecutionContext, options: MiniMirrorOptions = {}): Promise<MiniMirror> {
  const extraPackages = options.extraPackages ?? ['htop', 'vim', 'mail-agent'];
  const dir = await tempDir(t, 'mini-mirror');
  const files = new Map<string, Buffer>();
  const suite = async (path: string, codename: string, names: string[]) => {
    files.set(`${path}/dists/${codename}/InRelease`, Buffer.from(`Origin: Debian\nCodename: ${codename}\nSuite: ${codename}\n`));
    const plain = join(dir, `${codename}-Packages`);
    await writeFile(plain, stanzas(names));
    await run('xz', ['-k', '-f', plain]);
    files.set(`${path}/dists/${codename}/main/binary-amd64/Packages.xz`, await (await import('node:fs/promises')).readFile(`${plain}.xz`));
  };
  await suite('/debian', 'bookworm', [...BASE_PACKAGES, ...extraPackages]);
  await suite('/debian', 'bookworm-updates', ['tzdata']);
  await suite('/security', 'bookworm-security', ['openssh-server']);
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (options.stallApt && /^Debian APT/.test(req.headers['user-agent'] ?? '')) return;
    const body = files.get(req.url ?? '');
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/debian`;
  const securityUrl = `http://127.0.0.1:${port}/security`;
  const aptDir = join(dir, 'apt');
  await mkdir(aptDir);
  await writeFile(join(aptDir, 'sources.list'), `deb ${url} bookworm main\ndeb ${securityUrl} bookworm-security main\n`);
  return { url, securityUrl, aptDir, requests };
}

/** A loopback port with nothing listening (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
