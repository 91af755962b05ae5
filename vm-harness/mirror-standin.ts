// STAND-IN for the Debian mirror as the lab's bootserver checks it when an OS install is set (the
// lab's namespace has no route out): an HTTP proxy inside the lab that answers every
// dists/<suite>/InRelease and main/binary-amd64/Packages.xz with a minimal index naming the
// build's base packages. The OS install property `proxy` points at it; the checks pass, the
// root filesystem's inputs are unchanged (the proxy is not one), so the cached real build is used.
//   node mirror-standin.ts <ip> <port>          (started with lab.spawn)
import { createServer } from 'node:http';
import { execFileSync } from 'node:child_process';
import { OS_DEFINITIONS, basePackagesFor } from '../bootserver/os-images/spec.ts';

const [ip, port] = process.argv.slice(2) as [string, string];
const packages = basePackagesFor(OS_DEFINITIONS['debian-12']!).map((n) => `Package: ${n}\nVersion: 1.0\nArchitecture: amd64\n`).join('\n');
const packagesXz = execFileSync('xz', ['-c'], { input: packages });
createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const inRelease = /\/dists\/([^/]+)\/InRelease$/.exec(path);
  if (inRelease) return void res.writeHead(200).end(`Origin: Debian\nCodename: ${inRelease[1]}\nSuite: ${inRelease[1]}\n`);
  if (/\/dists\/[^/]+\/main\/binary-amd64\/Packages\.xz$/.test(path)) return void res.writeHead(200, { 'content-length': packagesXz.length }).end(packagesXz);
  res.writeHead(404).end();
}).listen(Number(port), ip, () => process.stdout.write(`mirror stand-in on ${ip}:${port}\n`));
