// Several bootservers on one PostgreSQL store (docs/multi-server.md): job events written through
// one server reach the live listeners of the others. One real throwaway cluster for the file.
import test from 'ava';
import { AdminClient } from '../../bootserver/cli/api-client.ts';
import { ProductId } from '../../lib/products.ts';
import { startPgCluster, type PgCluster } from '../helpers/pg-cluster.ts';
import { agentCall, issueJob, startTestServer } from '../helpers/server.ts';

let cluster: PgCluster | undefined;
test.before(async () => {
  cluster = await startPgCluster();
});
test.after.always(async () => {
  await cluster?.stop();
});
const theCluster = () => {
  if (!cluster) throw new Error('the PostgreSQL cluster did not start');
  return cluster;
};

/** Follow a server's event stream as `netimage jobs --follow` does; resolves once it is subscribed. */
async function follow(url: string, token: string, query: string) {
  const seen: { jobId: string; message: string; percent: number | null; state: string }[] = [];
  const waiters: (() => void)[] = [];
  const abort = new AbortController();
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const done = new AdminClient(url, token)
    .streamEvents(
      query,
      (data) => {
        seen.push(data as (typeof seen)[number]);
        for (const w of waiters.splice(0)) w();
      },
      abort.signal,
      opened,
    )
    .catch(() => undefined);
  await open;
  return {
    seen,
    /** Wait (up to deadlineMs) until an event matching pred has arrived. */
    async until(pred: (e: (typeof seen)[number]) => boolean, deadlineMs = 10_000): Promise<(typeof seen)[number]> {
      const end = Date.now() + deadlineMs;
      for (;;) {
        const hit = seen.find(pred);
        if (hit) return hit;
        const left = end - Date.now();
        if (left <= 0) throw new Error(`no such event within ${deadlineMs} ms; saw ${JSON.stringify(seen)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    async close() {
      abort.abort();
      await done;
    },
  };
}

test.serial("job progress and the result written through server B appear live on server A's event stream, once each", async (t) => {
  const url = await theCluster().migratedDatabase();
  const a = await startTestServer({ overrides: { 'store.url': url } });
  const b = await startTestServer({ overrides: { 'store.url': url } });
  t.teardown(async () => {
    await a.stop();
    await b.stop();
  });
  // The boot config is read at B (the PC's site), the admin follows at A.
  const job = await issueJob(b, { clientId: 'pc-b1', mac: '52:54:00:0b:00:01', productId: ProductId.hwinvent });
  const all = await follow(a.url, a.adminToken, '');
  const one = await follow(a.url, a.adminToken, `?job=${job.jobId}`);
  t.teardown(async () => {
    await all.close();
    await one.close();
  });
  t.is((await one.until((e) => /attempt 1 of/.test(e.message))).jobId, job.jobId, 'the job filter replays what B stored before');

  t.is((await agentCall(b.url, job.token, 'POST', '/job/progress', { percent: 40, message: 'reading the disk at site B' })).status, 200);
  const progress = await all.until((e) => e.message === 'reading the disk at site B');
  t.like(progress, { jobId: job.jobId, percent: 40, state: 'running' });
  await one.until((e) => e.message === 'reading the disk at site B');

  t.is((await agentCall(b.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  await all.until((e) => e.state === 'succeeded');
  await one.until((e) => e.state === 'succeeded');
  t.is(all.seen.filter((e) => e.message === 'reading the disk at site B').length, 1, 'each event once on A');

  // And the other way round: A's own events still reach A's listeners once (its bus, not the announcement).
  const second = await issueJob(a, { clientId: 'pc-a1', mac: '52:54:00:0a:00:01', productId: ProductId.hwinvent });
  t.is((await agentCall(a.url, second.token, 'POST', '/job/progress', { percent: 5, message: 'at site A' })).status, 200);
  await all.until((e) => e.message === 'at site A');
  const onB = await follow(b.url, b.adminToken, `?job=${second.jobId}`);
  t.teardown(onB.close);
  t.is((await agentCall(a.url, second.token, 'POST', '/job/progress', { percent: 6, message: 'at site A again' })).status, 200);
  await onB.until((e) => e.message === 'at site A again');
  t.is(all.seen.filter((e) => e.message === 'at site A').length, 1, "A's own event once on A");
});
