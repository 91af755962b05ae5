// Runs one imaging product against a loop device the way the agent does, against a real
// bootserver: fetch the job with its token, run the product (its server calls go over HTTP with
// the agent's own client), post the result, upload the log.
//   product-run.ts <productId> <loop> <serverUrl> <token> <uefi|bios> <outboxDir>
// Run inside a private mount namespace (the products mount the backup partition).
import { join } from 'node:path';
import type { AgentResult } from '../../../lib/agent-protocol.ts';
import { AgentApiClient } from '../../../bootimage/agent/api-client.ts';
import type { NetbootProduct, ProductContext } from '../../../lib/netboot-product.ts';
import { ResultOutbox } from '../../../bootimage/agent/result-outbox.ts';
import { makeBackupProduct } from '../../../imaging/products/backup.ts';
import { makeDelimageProduct } from '../../../imaging/products/delimage.ts';
import { makePrepareProduct } from '../../../imaging/products/prepare.ts';
import { makeRestoreProduct } from '../../../imaging/products/restore.ts';
import { makeWimCaptureProduct } from '../../../imaging/products/wim-capture.ts';
import { makeWimInfoProduct } from '../../../imaging/products/wim-info.ts';

const [productId, loop, serverUrl, token, firmware, outboxDir] = process.argv.slice(2);
const overrides = { allowLoop: true, devices: [loop!] };
const products: Record<string, NetbootProduct> = Object.fromEntries(
  [makePrepareProduct, makeBackupProduct, makeRestoreProduct, makeDelimageProduct, makeWimCaptureProduct, makeWimInfoProduct].map((make) => make(overrides)).map((p) => [p.id, p]),
);
const log: string[] = [];
const progress: number[] = [];
const client = new AgentApiClient({ baseUrl: serverUrl!, token: token!, log: (l) => log.push(`client: ${l}`), policy: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0, maxAttempts: 3 } });
const job = await client.getJob();
const ctx: ProductContext = {
  job,
  firmware: firmware === 'bios' ? 'bios' : 'uefi',
  bootMac: job.client.mac,
  log: (l) => log.push(l),
  progress: (p) => progress.push(p),
  server: client,
  signal: new AbortController().signal,
};
let error: string | null = null;
let errorName: string | null = null;
try {
  if (job.productId !== productId) throw new Error(`the server's job is ${job.productId}, not ${productId}`);
  await products[productId]!.run(ctx);
} catch (e) {
  error = (e as Error).message;
  errorName = (e as Error).name;
}
const result: AgentResult = error === null ? { result: 'successful' } : { result: 'failed', error };
await client.postResult(job.jobId, result, new ResultOutbox([join(outboxDir!, 'result.json')]));
await client.uploadLog(log.join('\n'));
process.stdout.write(`${JSON.stringify({ ok: error === null, error, errorName, log, progress, jobId: job.jobId })}\n`);
