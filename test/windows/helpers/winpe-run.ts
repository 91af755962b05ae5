// Prepare a loop disk for Windows and run opsi-local-image-win11-x64 on it the way the agent does,
// against the real bootserver (plan, depot files and the result over HTTP with the job token);
// then read back what was staged. Run inside a private mount namespace.
//   winpe-run.ts <loop> <uefi|bios> <serverUrl> <jobToken> <outboxDir> [prepare|stage]
// STAND-IN: the PC's PCI devices are fixed (fake-media.ts PCI_DEVICES), not this host's sysfs.
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { AgentApiClient } from '../../../bootimage/agent/api-client.ts';
import { ResultOutbox } from '../../../bootimage/agent/result-outbox.ts';
import type { ProductContext } from '../../../lib/netboot-product.ts';
import { prepareFlow, PREPARE_DEFAULTS } from '../../../imaging/flows.ts';
import { probeFilesystem } from '../../../imaging/fsdetect.ts';
import { withMount } from '../../../imaging/mount.ts';
import { makeWindowsProduct } from '../../../imaging/products/windows.ts';
import { execa, run } from '../../../lib/process.ts';
import { PCI_DEVICES } from './fake-media.ts';

const [loop, firmwareArg, serverUrl, token, outboxDir, step] = process.argv.slice(2) as [string, string, string, string, string, string | undefined];
const firmware = firmwareArg === 'bios' ? 'bios' : 'uefi';
const log: string[] = [];
const progress: number[] = [];
const out: Record<string, unknown> = {};

async function walk(root: string, dir = root): Promise<string[]> {
  const files: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) files.push(...(await walk(root, join(dir, e.name))));
    else files.push(relative(root, join(dir, e.name)));
  }
  return files.sort();
}

try {
  const flow = { log: (l: string) => log.push(l), allowLoop: true, devices: [loop] };
  if (step === 'prepare') {
    const prepared = await prepareFlow(flow, { ...PREPARE_DEFAULTS, firmware, osFamily: 'windows', systemPartitionSize: '200M', winpePartitionSize: '96M', minimalBackupPartitionSize: '10%' });
    out['partitions'] = prepared.partitions;
    out['ok'] = true;
  } else {
    const client = new AgentApiClient({ baseUrl: serverUrl, token, log: (l) => log.push(`client: ${l}`), policy: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0, maxAttempts: 3 } });
    const job = await client.getJob();
    const ctx: ProductContext = { job, firmware, bootMac: job.client.mac, log: (l) => log.push(l), progress: (p) => progress.push(p), server: client, signal: new AbortController().signal };
    const product = makeWindowsProduct(job.productId as 'opsi-local-image-win11-x64', { ...flow, pciDevices: async () => PCI_DEVICES });
    let error: string | null = null;
    try {
      await product.run(ctx);
    } catch (e) {
      error = `${(e as Error).name}: ${(e as Error).message}`;
    }
    await client.postResult(job.jobId, error === null ? { result: 'successful' } : { result: 'failed', error }, new ResultOutbox([join(outboxDir, 'result.json')]));
    out['error'] = error;
    out['jobId'] = job.jobId;
    const parts = JSON.parse((await run('sfdisk', ['--json', loop])).stdout).partitiontable.partitions as { node: string }[];
    const nodes = parts.map((p) => p.node);
    // Partition order of prepare's layouts: UEFI esp, msr, system, winpe, backup; BIOS system, winpe, backup.
    const winpe = firmware === 'uefi' ? nodes[3]! : nodes[1]!;
    const esp = firmware === 'uefi' ? nodes[0]! : null;
    out['winpeFs'] = (await probeFilesystem(winpe)).type;
    if (error === null) {
      await withMount(
        winpe,
        async (dir) => {
          const text = (p: string) => readFile(join(dir, p), 'utf8');
          const files = await walk(dir);
          out['files'] = files;
          out['sha256'] = Object.fromEntries(await Promise.all(files.map(async (f) => [f, createHash('sha256').update(await readFile(join(dir, f))).digest('hex')])));
          out['unattend'] = await text('netimage/unattend.xml');
          out['stage'] = JSON.parse(await text('netimage/stage.json'));
          out['pending'] = await stat(join(dir, 'netimage/pending')).then(() => true, () => false);
          const scripts = 'installfiles/sources/$OEM$/$$/Setup/Scripts';
          out['setupComplete'] = await text(`${scripts}/SetupComplete.cmd`);
          out['completionToken'] = await text(`${scripts}/netimage-token.txt`);
          out['report'] = JSON.parse(await text(`${scripts}/netimage-report.json`));
          out['startnet'] = (await execa('wimlib-imagex', ['extract', join(dir, 'sources/boot.wim'), '1', '/Windows/System32/startnet.cmd', '--to-stdout'], { env: { LC_ALL: 'C.UTF-8' } })).stdout;
          out['bootWimOther'] = (await execa('wimlib-imagex', ['extract', join(dir, 'sources/boot.wim'), '1', '/Windows/System32/stand-in.txt', '--to-stdout'], { env: { LC_ALL: 'C.UTF-8' } })).stdout;
        },
        { fsType: 'ntfs-3g', readOnly: true },
      );
      if (esp) {
        const env = { MTOOLS_SKIP_CHECK: '1' };
        out['espLoader'] = (await execa('mcopy', ['-i', esp, '::/EFI/netimage-winpe/bootx64.efi', '-'], { env })).stdout;
        out['espBcd'] = (await execa('mcopy', ['-i', esp, '::/EFI/netimage-winpe/BCD', '-'], { env })).stdout;
      }
    }
    out['ok'] = true;
  }
} catch (e) {
  out['ok'] = false;
  out['error'] = `${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack}`;
}
out['log'] = log;
out['progress'] = progress;
process.stdout.write(`${JSON.stringify(out)}\n`);
