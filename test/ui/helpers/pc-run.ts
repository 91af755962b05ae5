// One PC's boot-image run on a loop device against a real bootserver, as the agent does it:
// fetch the job with its token, run the imaging product, stream progress and log lines through the
// agent's own Reporter (so the server's event stream and the web UI see the job move), post the
// result, upload the full log. Only the disk (a loop device) and the flush interval (200 ms
// instead of 1 s, so a short test restore still shows several steps) differ from a real PC.
//   pc-run.ts <loop> <serverUrl> <token> <outboxDir>
// Run inside a private mount namespace (the products mount the backup partition).
import { join } from 'node:path';
import type { AgentResult } from '../../../lib/agent-protocol.ts';
import type { ProductContext } from '../../../lib/netboot-product.ts';
import { AgentApiClient } from '../../../bootimage/agent/api-client.ts';
import { productFailure } from '../../../bootimage/agent/failure.ts';
import { Reporter } from '../../../bootimage/agent/reporter.ts';
import { ResultOutbox } from '../../../bootimage/agent/result-outbox.ts';
import { makeBackupProduct } from '../../../imaging/products/backup.ts';
import { makeDelimageProduct } from '../../../imaging/products/delimage.ts';
import { makePrepareProduct } from '../../../imaging/products/prepare.ts';
import { makeRestoreProduct } from '../../../imaging/products/restore.ts';

const [loop, serverUrl, token, outboxDir] = process.argv.slice(2);
const overrides = { allowLoop: true, devices: [loop!] };
const products = [makePrepareProduct(overrides), makeBackupProduct(overrides), makeRestoreProduct(overrides), makeDelimageProduct(overrides)];
const client = new AgentApiClient({ baseUrl: serverUrl!, token: token!, log: () => undefined, policy: { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0, maxAttempts: 5 } });
const job = await client.getJob();
const reporter = new Reporter({ send: (batch) => client.sendProgressOnce(batch), console: () => undefined, flushMs: 200 });
reporter.start();
const ctx: ProductContext = {
  job,
  firmware: 'uefi',
  bootMac: job.client.mac,
  log: (line) => reporter.log(line),
  progress: (p, m) => reporter.progress(p, m),
  server: client,
  signal: new AbortController().signal,
};
const product = products.find((p) => p.id === job.productId);
// As the agent does: a thrown error fails the job with its message (stack in the log for bugs).
const result: AgentResult = product
  ? await product.run(ctx).then(
      (): AgentResult => ({ result: 'successful' }),
      (error: unknown) => {
        const failure = productFailure(product.id, error);
        failure.log.forEach((line) => reporter.log(line));
        return failure.result;
      },
    )
  : { result: 'failed', error: `this test PC has no product ${job.productId}` };
await reporter.close();
await client.postResult(job.jobId, result, new ResultOutbox([join(outboxDir!, 'result.json')]));
await client.uploadLog(reporter.fullLog());
process.stdout.write(`${JSON.stringify({ jobId: job.jobId, productId: job.productId, ...result })}\n`);
