// `netimage doctor`: checks what a working bootserver needs and says what to do about each miss.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Config } from '../config/schema.ts';
import { bootImageFiles } from '../boot/image-files.ts';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function bindUdp(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      socket.close();
      resolve(e.code ?? e.message);
    });
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve(null)));
  });
}

function bindTcp(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

async function netimageAnswers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/health`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

export async function runDoctor(config: Config): Promise<Check[]> {
  const checks: Check[] = [];
  const major = Number(process.versions.node.split('.')[0]);
  checks.push({ name: 'node', ok: major >= 24, detail: `node ${process.versions.node}${major >= 24 ? '' : ': netimage needs Node 24 (bash run.sh setup installs it in .tools/)'}` });
  checks.push({ name: 'config', ok: true, detail: 'valid' });

  const root = config.paths.bootRoot;
  const loaders = ['shimx64.efi', 'grubx64.efi', 'grub/i386-pc/core.0'];
  const missingLoaders = loaders.filter((f) => !existsSync(join(root, f)));
  checks.push({
    name: 'loaders',
    ok: missingLoaders.length === 0,
    detail: missingLoaders.length ? `missing in ${root}: ${missingLoaders.join(', ')} (run: bash run.sh setup)` : `shim, grub (UEFI) and grub core.0 (BIOS) in ${root}`,
  });
  // The files grub and init load for the configured boot.initrd (two-stage: stage 2 over HTTP).
  const files = bootImageFiles(config.boot.initrd);
  const image = [files.kernel, files.initrd, ...files.fetched, 'netimage/manifest.json'];
  const missingImage = image.filter((f) => !existsSync(join(root, f)));
  let imageDetail = missingImage.length ? `missing in ${root}: ${missingImage.join(', ')} (run: bash run.sh setup)` : 'built';
  if (!missingImage.length) {
    try {
      const manifest = JSON.parse(readFileSync(join(root, 'netimage/manifest.json'), 'utf8')) as { kernel?: { version?: string }; sizes?: Record<string, number> };
      imageDetail = `built${manifest.kernel?.version ? `, kernel ${manifest.kernel.version}` : ''}`;
    } catch {
      imageDetail = 'manifest.json is unreadable: rebuild with bash run.sh setup';
    }
  }
  checks.push({ name: 'boot image', ok: missingImage.length === 0, detail: imageDetail });

  const running = await netimageAnswers(config.http.port);
  const http = await bindTcp(config.http.host, config.http.port);
  checks.push({
    name: `http ${config.http.port}/tcp`,
    ok: http === null || running,
    detail: http === null ? 'bindable' : running ? 'in use by a running netimage server' : `cannot bind: ${http}`,
  });
  const udp: [string, number, boolean][] = [
    ['tftp', config.tftp.port, config.tftp.enabled],
    ['dhcp', config.dhcp.port, config.dhcp.mode !== 'off'],
    ['pxe', config.dhcp.pxePort, config.dhcp.mode !== 'off'],
  ];
  for (const [name, port, enabled] of udp) {
    if (!enabled) {
      checks.push({ name: `${name} ${port}/udp`, ok: true, detail: 'disabled in config' });
      continue;
    }
    const err = await bindUdp(name === 'tftp' ? config.tftp.host : '0.0.0.0', port);
    checks.push({
      name: `${name} ${port}/udp`,
      ok: err === null || running,
      detail: err === null ? 'bindable' : running ? 'in use (netimage is running)' : err === 'EACCES' ? 'permission denied: run as root or give node CAP_NET_BIND_SERVICE' : `cannot bind: ${err}`,
    });
  }
  checks.push({ name: 'store', ok: true, detail: join(config.dataDir, 'netimage.sqlite') });
  return checks;
}
