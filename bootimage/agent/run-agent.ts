// One agent run: read the kernel command line, fetch the job, run the product, stream progress,
// post the result (persisted, resent until acknowledged), upload the log, and tell init whether to
// reboot or power off (<runDir>/after-job). Returns the exit code (see main.ts).
import { existsSync, mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentResult } from '../../lib/agent-protocol.ts';
import { run } from '../../lib/process.ts';
import { AgentApiClient, describe } from './api-client.ts';
import { parseCmdline } from './cmdline.ts';
import { productFailure } from './failure.ts';
import type { ProductContext } from '../../lib/netboot-product.ts';
import { allProducts } from './registry.ts';
import { MODULES_TIMEOUT_S, waitForModules } from './modules-ready.ts';
import { rebootDelaySeconds } from './reboot-delay.ts';
import { Reporter } from './reporter.ts';
import { ResultOutbox } from './result-outbox.ts';

/** In runDir once the agent runs (init waits for it before its second module pass). */
export const AGENT_RUNNING_FILE = 'agent-running';

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

export interface AgentRunOptions {
  cmdlineText: string;
  runDir: string;
  noReboot: boolean;
  setClock: boolean;
  /**
   * init's marker that the full module pass is done (two stages: it runs beside the agent). The
   * product starts only once it exists; absent = no wait (host runs, tests).
   */
  modulesReadyFile?: string;
  /** How long to wait for modulesReadyFile (default MODULES_TIMEOUT_S seconds). */
  modulesTimeoutMs?: number;
  /** Node's start-up times, shown in brackets on the `agent running` line. */
  startup?: string;
}

/** Clocks on fresh hardware can be years off; TLS-free HTTP doesn't care, logs and file times do. */
async function syncClock(serverTime: string): Promise<void> {
  const server = Date.parse(serverTime);
  if (!Number.isFinite(server) || Math.abs(server - Date.now()) < 2000) return;
  const d = new Date(server);
  const stamp = `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}-${String(d.getUTCDate()).padStart(2, '0')} ${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}:${String(d.getUTCSeconds()).padStart(2, '0')}`;
  await run('date', ['-u', '-s', stamp]).catch(() => undefined);
  say(`netimage: clock set from server: ${d.toISOString()}`);
}

export async function runAgent(o: AgentRunOptions): Promise<number> {
  say(`netimage: agent running${o.startup ? ` (${o.startup})` : ''}`);
  mkdirSync(o.runDir, { recursive: true });
  // init's second module pass starts on this (bootimage/init/init): node's start comes first.
  writeFileSync(join(o.runDir, AGENT_RUNNING_FILE), '');
  const localLog = join(o.runDir, 'agent.log');
  const note = (line: string) => {
    say(`netimage: ${line}`);
    try {
      appendFileSync(localLog, `${new Date().toISOString()} ${line}\n`);
    } catch {
      // RAM disk full: the console still has it
    }
  };
  const cmd = parseCmdline(o.cmdlineText);
  const abort = new AbortController();
  process.once('SIGTERM', () => abort.abort(new Error('agent stopped (SIGTERM)')));
  const client = new AgentApiClient({ baseUrl: cmd.server, token: cmd.token, log: note, signal: abort.signal });
  const outbox = new ResultOutbox([join(o.runDir, 'result.json')]);
  const afterFile = join(o.runDir, 'after-job');

  // A result from an earlier run of this agent (same boot) that never got through: deliver it first.
  const pending = outbox.load();
  if (pending && pending.jobId === cmd.job && !pending.acknowledged) {
    note(`resending the stored result of job ${cmd.job} (${pending.result.result})`);
    await client.postResult(cmd.job, pending.result, outbox);
    writeFileSync(afterFile, o.noReboot ? 'none' : 'reboot');
    return pending.result.result === 'successful' ? 0 : 2;
  }

  note(`fetching job ${cmd.job} from ${cmd.server}`);
  const jobFetch = client.getJob();
  // The products' code (a chunk of its own) loads while the job request is on the wire.
  const products = allProducts();
  products.catch(() => undefined);
  const job = await jobFetch;
  if (o.setClock) await syncClock(job.serverTime);
  note(`job ${job.jobId}: ${job.productId} ${job.productVersion} (${job.actionRequest}), attempt ${job.attempt}`);

  const reporter = new Reporter({
    send: (batch) => client.sendProgressOnce(batch),
    console: say,
    onSendError: (e) => {
      if (reporter.failures === 1 || reporter.failures % 10 === 0) note(`progress not delivered (${describe(e)}); will resend`);
    },
  });
  reporter.start();
  const firmware = existsSync('/sys/firmware/efi') ? 'uefi' : 'bios';
  const ctx: ProductContext = {
    job,
    firmware,
    bootMac: cmd.mac,
    log: (line) => reporter.log(line),
    progress: (p, m) => reporter.progress(p, m),
    server: client,
    signal: abort.signal,
    keepResultAt: (path) => outbox.addPath(path),
  };
  let result: AgentResult;
  const product = (await products).find((p) => p.id === job.productId);
  if (!product) {
    result = { result: 'failed', error: `this boot image has no product ${job.productId}` };
    reporter.log(result.error!);
  } else {
    try {
      // The one place a product starts: everything before it only talks to the server.
      if (o.modulesReadyFile && !existsSync(o.modulesReadyFile)) {
        note('waiting for the kernel modules (init\'s module pass)');
        await waitForModules(o.modulesReadyFile, o.modulesTimeoutMs ?? MODULES_TIMEOUT_S * 1000, abort.signal);
        note('kernel modules ready');
      }
      await product.run(ctx);
      result = { result: 'successful' };
    } catch (error) {
      const failure = productFailure(product.id, error);
      for (const line of failure.log) reporter.log(line);
      result = failure.result;
    }
  }
  result.finishedAt = new Date().toISOString();
  await reporter.close();
  note(`posting result: ${result.result}${result.error ? ` (${result.error})` : ''}`);
  await client.postResult(job.jobId, result, outbox);
  note('result acknowledged by the server');
  try {
    await client.uploadLog(reporter.fullLog());
  } catch (error) {
    note(`log upload failed: ${describe(error)}`);
  }
  const delay = o.noReboot ? 0 : rebootDelaySeconds(job);
  if (delay > 0) {
    note(`${job.afterJob} in ${delay} s (delay_for_reboot)`);
    await new Promise((r) => setTimeout(r, delay * 1000));
  }
  writeFileSync(afterFile, o.noReboot ? 'none' : job.afterJob);
  return result.result === 'successful' ? 0 : 2;
}

