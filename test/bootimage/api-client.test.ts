import test from 'ava';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { AgentApiClient, HttpError } from '../../bootimage/agent/api-client.ts';
import { ResultOutbox } from '../../bootimage/agent/result-outbox.ts';
import { Reporter } from '../../bootimage/agent/reporter.ts';
import { backoffDelay, withRetry, type RetryPolicy } from '../../bootimage/agent/retry.ts';

const fast: RetryPolicy = { initialMs: 20, maxMs: 200, factor: 2, jitter: 0.5, maxAttempts: Number.POSITIVE_INFINITY };

test('backoff grows exponentially, is capped, and jitter only shortens', (t) => {
  const p: RetryPolicy = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.5, maxAttempts: 10 };
  t.deepEqual([1, 2, 3, 4].map((a) => backoffDelay(a, p, () => 0)), [500, 1000, 2000, 4000]);
  t.is(backoffDelay(20, p, () => 0), 30_000);
  t.is(backoffDelay(3, p, () => 1), 1000);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(5, p);
    t.true(d >= 4000 && d <= 8000);
  }
});

test('withRetry: retries until success, stops on fatal errors and at maxAttempts', async (t) => {
  const waits: number[] = [];
  const sleep = async (ms: number) => void waits.push(ms);
  let calls = 0;
  const v = await withRetry(async () => (++calls < 4 ? Promise.reject(new Error('down')) : 'ok'), { ...fast, jitter: 0 }, { sleep });
  t.is(v, 'ok');
  t.deepEqual(waits, [20, 40, 80]);
  calls = 0;
  await t.throwsAsync(withRetry(async () => (calls++, Promise.reject(new HttpError('GET', '/x', 404, ''))), fast, { sleep, isFatal: (e) => e instanceof HttpError }));
  t.is(calls, 1);
  calls = 0;
  await t.throwsAsync(withRetry(async () => (calls++, Promise.reject(new Error('x'))), { ...fast, maxAttempts: 3 }, { sleep }));
  t.is(calls, 3);
});

async function listen(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void, port = 0): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => handler(req, body, res));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

test('the result is persisted first and resent through 503s and dropped connections until acknowledged', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ni-outbox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const seen: string[] = [];
  let n = 0;
  const { server, port } = await listen((req, body, res) => {
    t.is(req.headers.authorization, 'Bearer feedface');
    n++;
    if (n <= 2) return void res.writeHead(503).end('busy');
    if (n === 3) return void req.socket.destroy();
    seen.push(body);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
  });
  t.teardown(() => close(server));
  const outbox = new ResultOutbox([join(dir, 'run/result.json')]);
  const logs: string[] = [];
  const client = new AgentApiClient({ baseUrl: `http://127.0.0.1:${port}/`, token: 'feedface', log: (l) => logs.push(l), resultPolicy: fast });
  await client.postResult('job-1', { result: 'successful' }, outbox);
  t.is(n, 4);
  t.deepEqual(seen.map((s) => JSON.parse(s)), [{ result: 'successful' }]);
  const stored = JSON.parse(await readFile(join(dir, 'run/result.json'), 'utf8'));
  t.like(stored, { jobId: 'job-1', acknowledged: true, attempts: 4, result: { result: 'successful' } });
  t.is(logs.filter((l) => l.startsWith('result not delivered')).length, 3);
});

test('server away: the unacknowledged result waits on disk and arrives when the server is back', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ni-outbox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Reserve a port, then close it: connections are refused until the server comes back.
  const probe = await listen(() => undefined);
  const port = probe.port;
  await close(probe.server);
  const outbox = new ResultOutbox([join(dir, 'result.json'), join(dir, 'backup-partition/netimage-result.json')]);
  const client = new AgentApiClient({ baseUrl: `http://127.0.0.1:${port}`, token: 'ab', log: () => undefined, resultPolicy: fast });
  const delivered = client.postResult('job-2', { result: 'failed', error: 'disk too small' }, outbox);
  await new Promise((r) => setTimeout(r, 300));
  for (const p of outbox.paths) {
    t.like(JSON.parse(await readFile(p, 'utf8')), { jobId: 'job-2', acknowledged: false, result: { result: 'failed', error: 'disk too small' } });
  }
  t.true((outbox.load()?.attempts ?? 0) >= 2);
  const got: string[] = [];
  const back = await listen((_req, body, res) => {
    got.push(body);
    res.writeHead(200).end();
  }, port);
  t.teardown(() => close(back.server));
  await delivered;
  t.deepEqual(got.map((b) => JSON.parse(b).error), ['disk too small']);
  t.true(outbox.load()?.acknowledged);
});

test('a 4xx is not retried; the result stays stored unacknowledged', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ni-outbox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let n = 0;
  const { server, port } = await listen((_req, _b, res) => {
    n++;
    res.writeHead(401).end('{"message":"token expired"}');
  });
  t.teardown(() => close(server));
  const outbox = new ResultOutbox([join(dir, 'result.json')]);
  const client = new AgentApiClient({ baseUrl: `http://127.0.0.1:${port}`, token: 'ab', log: () => undefined, resultPolicy: fast });
  await t.throwsAsync(client.postResult('job-3', { result: 'successful' }, outbox), { message: /401/ });
  t.is(n, 1);
  t.like(outbox.load(), { acknowledged: false, lastError: 'POST /job/result: HTTP 401: {"message":"token expired"}' });
});

test('a later outbox path gets the current result at once', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ni-outbox-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const outbox = new ResultOutbox([join(dir, 'a.json')]);
  outbox.save({ jobId: 'j', result: { result: 'successful' }, acknowledged: false, attempts: 1 });
  outbox.addPath(join(dir, 'b/c.json'));
  t.like(JSON.parse(await readFile(join(dir, 'b/c.json'), 'utf8')), { jobId: 'j', acknowledged: false });
});

test('reporter keeps unsent lines in order and sends them with the next batch', async (t) => {
  const batches: { percent?: number; message?: string; log?: string[] }[] = [];
  let fail = true;
  const printed: string[] = [];
  const r = new Reporter({
    send: async (b) => {
      if (fail) throw new Error('ECONNREFUSED');
      batches.push(b);
    },
    console: (l) => printed.push(l),
  });
  r.log('one');
  r.progress(10, 'partitioning');
  await r.flush();
  t.is(r.failures, 1);
  r.log('two');
  fail = false;
  await r.flush();
  t.deepEqual(batches, [{ percent: 10, message: 'partitioning', log: ['one', 'two'] }]);
  t.true(printed.includes('netimage: [ 10%] partitioning'));
  t.regex(r.fullLog(), /one\n.*progress 10% partitioning\n.*two\n$/);
  await r.flush();
  t.is(batches.length, 1, 'nothing new, nothing sent');
});
