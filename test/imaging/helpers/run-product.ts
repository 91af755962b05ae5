// The admin sets the action (with properties), the client reads its config, the agent runs the
// product (product-run.ts in a private mount namespace, against the loop device); its JSON outcome.
import { join } from 'node:path';
import { run } from '../../../lib/process.ts';
import { issueJob, type TestServer } from '../../helpers/server.ts';
import { ROOT } from './loop.ts';

export interface RunOutcome {
  ok: boolean;
  error: string | null;
  errorName: string | null;
  log: string[];
  progress: number[];
  jobId: string;
}

export async function runProductOnLoop(
  ts: TestServer,
  client: { clientId: string; mac: string },
  productId: string,
  loop: { path: string; dir: string },
  properties: Record<string, unknown> = {},
): Promise<RunOutcome> {
  const job = await issueJob(ts, { ...client, productId, properties });
  const r = await run('unshare', ['-m', '--propagation', 'private', process.execPath, join(ROOT, 'test/imaging/helpers/product-run.ts'), productId, loop.path, ts.url, job.token, 'uefi', loop.dir]);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as RunOutcome;
}
