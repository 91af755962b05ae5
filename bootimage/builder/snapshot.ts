// Stage: the agent's V8 startup snapshot (docs/bootimage.md "Agent snapshot"). The agent's core
// (bootimage/agent/snapshot-main.ts and what it imports) bundled into one CommonJS script, which
// `node --build-snapshot` evaluates and serialises with node's own start state into
// /agent/agent.blob; init starts `node --snapshot-blob /agent/agent.blob -- ...`, so at boot node
// deserialises the evaluated modules instead of parsing and running ~1 MB of JavaScript (under
// TCG 1.2-1.7 s, docs/performance.md "Session 10").
//
// The blob is made by the same node binary the image carries (NODE_BIN, stripped into the stage
// afterwards: stripping does not change what V8 checks). V8 writes a few varying bytes into every
// blob (17 bytes differed between two builds of the same script), so the blob is built after the
// cache check and the inputs hash covers the bundled script, not the blob.
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/process.ts';

export const SNAPSHOT_SCRIPT = 'agent-snapshot.cjs';
export const SNAPSHOT_BLOB = 'agent.blob';

/**
 * The snapshot's script: one CommonJS file (what `--build-snapshot` takes: no ES modules, and no
 * import() while the snapshot is built or after it is deserialised, so the products are bundled
 * in too, evaluated only when registry.ts asks for them). `import.meta` has no value in CommonJS:
 * the paths modules derive from it are the image's, as the ES module bundle sees them in /agent.
 */
export async function bundleSnapshotScript(entry: string, outDir: string): Promise<string> {
  const esbuild = await import('esbuild');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const outfile = join(outDir, SNAPSHOT_SCRIPT);
  await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    outfile,
    minify: true,
    legalComments: 'none',
    logLevel: 'error',
    define: { 'import.meta.url': JSON.stringify(`file:///agent/${SNAPSHOT_SCRIPT}`), 'import.meta.dirname': '"/agent"', 'import.meta.filename': JSON.stringify(`/agent/${SNAPSHOT_SCRIPT}`) },
  });
  return outfile;
}

/**
 * Evaluates `script` with `nodeBin --build-snapshot` into `<agentStageDir>/agent.blob`. The
 * environment is empty but PATH (module-level code that reads process.env at load, e.g.
 * NETIMAGE_ROOT in lib/paths.ts, must see what it sees in the image, not the build host's) and the
 * working directory is the script's. Node warns that child_process and tty are "not yet fully
 * verified" in snapshots: the agent only spawns after deserialisation (checked by
 * test/bootimage/agent-snapshot.test.ts running hwinvent from a blob), so the warnings are dropped.
 */
export async function buildAgentSnapshot(nodeBin: string, script: string, agentStageDir: string): Promise<{ bytes: number }> {
  const blob = join(agentStageDir, SNAPSHOT_BLOB);
  await run(nodeBin, ['--snapshot-blob', blob, '--build-snapshot', script], {
    cwd: join(script, '..'),
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
    extendEnv: false,
  });
  return { bytes: statSync(blob).size };
}
