// A tiny Debian mirror on 127.0.0.1 for validation tests: InRelease and Packages.xz per suite,
// made from a package list; plus an apt config dir whose sources point at it, so the server's
// "own apt mirror" is this loopback mirror and no test reaches an outside address.
import { createServer, type Server } from 'node:http';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { ExecutionContext } from 'ava';
import { run } from '../../../lib/process.ts';
import { OS_DEFINITIONS, basePackagesFor } from '../../../bootserver/os-images/spec.ts';
import { tempDir } from '../../helpers/tempdir.ts';

export interface MiniMirror {
  /** http://127.0.0.1:PORT/debian */
  url: string;
  /** http://127.0.0.1:PORT/ubuntu (jammy) */
  ubuntuUrl: string;
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
  const suite = async (path: string, codename: string, names: string[], component = 'main') => {
    files.set(`${path}/dists/${codename}/InRelease`, Buffer.from(`Origin: Debian\nCodename: ${codename}\nSuite: ${codename}\n`));
    const plain = join(dir, `${path.slice(1)}-${codename}-${component}-Packages`);
    await writeFile(plain, stanzas(names));
    await run('xz', ['-k', '-f', plain]);
    files.set(`${path}/dists/${codename}/${component}/binary-amd64/Packages.xz`, await (await import('node:fs/promises')).readFile(`${plain}.xz`));
  };
  await suite('/debian', 'bookworm', [...basePackagesFor(OS_DEFINITIONS['debian-12']!), ...extraPackages]);
  await suite('/debian', 'bookworm-updates', ['tzdata']);
  await suite('/security', 'bookworm-security', ['openssh-server']);
  // Ubuntu jammy: every suite on the one mirror, main + universe (htop only in universe).
  for (const codename of ['jammy', 'jammy-updates', 'jammy-security']) {
    await suite('/ubuntu', codename, codename === 'jammy' ? basePackagesFor(OS_DEFINITIONS['ubuntu-22.04']!) : ['tzdata']);
    await suite('/ubuntu', codename, codename === 'jammy' ? ['htop'] : [], 'universe');
  }
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
  return { url, ubuntuUrl: `http://127.0.0.1:${port}/ubuntu`, securityUrl, aptDir, requests };
}

/** A loopback port with nothing listening (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
