// The agent's start, shared by its two entries: main.ts (the ES module bundle, `node
// /agent/agent.mjs ...`) and snapshot-main.ts (the same code evaluated at image build into a V8
// startup snapshot, `node --snapshot-blob /agent/agent.blob ...`; docs/bootimage.md "Agent snapshot").
//
//   [--cmdline-file F] [--run-dir D] [--no-reboot] [--no-clock] [--wait-file F]
//   [--modules-file F [--modules-timeout S]]
// Exit codes: 0 product succeeded, 2 product failed (result posted), 1 the agent itself failed.
// Env for host tests: NETIMAGE_AGENT_NO_REBOOT=1, NETIMAGE_RUN_DIR, NETIMAGE_CMDLINE_FILE.
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { describe } from './api-client.ts';
import { runAgent } from './run-agent.ts';
import { MODULES_TIMEOUT_S } from './modules-ready.ts';

/** `args`: the command line after the script (or after the snapshot's options). */
export async function main(args: string[], how: 'bundle' | 'snapshot' = 'bundle'): Promise<void> {
  // Where node's start goes (seconds since the process began): node's own bootstrap, then the
  // agent's modules parsed and evaluated. Printed on the `agent running` line (docs/performance.md).
  const startup = `${how === 'snapshot' ? 'from snapshot, ' : ''}node ${(performance.nodeTiming.bootstrapComplete / 1000).toFixed(2)} s, agent loaded ${(performance.now() / 1000).toFixed(2)} s`;
  const { values } = parseArgs({
    args,
    options: {
      'cmdline-file': { type: 'string' },
      'run-dir': { type: 'string' },
      'no-reboot': { type: 'boolean', default: false },
      'no-clock': { type: 'boolean', default: false },
      // init starts node early and creates this file once the network is up
      'wait-file': { type: 'string' },
      // init creates this file once its full module pass is done; the product waits for it
      'modules-file': { type: 'string' },
      'modules-timeout': { type: 'string' },
    },
  });
  const cmdlineFile = values['cmdline-file'] ?? process.env.NETIMAGE_CMDLINE_FILE ?? '/proc/cmdline';
  const inImage = existsSync('/etc/netimage/release');
  const waitFile = values['wait-file'];
  const modulesTimeout = values['modules-timeout'] === undefined ? MODULES_TIMEOUT_S : Number(values['modules-timeout']);
  if (!Number.isFinite(modulesTimeout) || modulesTimeout <= 0) {
    process.stdout.write(`netimage: agent error: --modules-timeout wants seconds > 0, not ${values['modules-timeout']}\n`);
    process.exitCode = 1;
    return;
  }
  if (waitFile) while (!existsSync(waitFile)) await new Promise((r) => setTimeout(r, 25));
  try {
    const code = await runAgent({
      cmdlineText: readFileSync(cmdlineFile, 'utf8'),
      runDir: values['run-dir'] ?? process.env.NETIMAGE_RUN_DIR ?? '/run/netimage',
      noReboot: values['no-reboot'] || process.env.NETIMAGE_AGENT_NO_REBOOT === '1',
      setClock: inImage && !values['no-clock'],
      modulesReadyFile: values['modules-file'],
      startup,
      modulesTimeoutMs: modulesTimeout * 1000,
    });
    process.exitCode = code;
  } catch (error) {
    process.stdout.write(`netimage: agent error: ${describe(error)}\n`);
    process.exitCode = 1;
  }
}

