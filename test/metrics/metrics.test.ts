// /metrics parsed by a Prometheus text-format parser (not prom-client's own), before and after
// real DHCP, TFTP and HTTP traffic on loopback and a real job; /healthz; who may scrape.
import test from 'ava';
import { createSocket } from 'node:dgram';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import type { FastifyRequest } from 'fastify';
import { startTestServer, issueJob, agentCall, type TestServer } from '../helpers/server.ts';
import { fixture, freePorts } from '../dhcp/helpers.ts';
import { metricsAllowed } from '../../bootserver/metrics/routes.ts';

const exec = promisify(execFile);

/**
 * Scrape and parse. The parser checks every line (it throws on a malformed one) and the TYPE of
 * each family; but it folds all label sets of a histogram into one (it merges buckets by `le`
 * only), so histogram series are read from a second parse without the histogram TYPE lines,
 * where `_bucket`, `_sum` and `_count` are plain series with their labels.
 */
async function scrape(ts: TestServer): Promise<ParsedFamily[]> {
  const res = await fetch(`${ts.url}/metrics`);
  if (res.status !== 200) throw new Error(`metrics: ${res.status}`);
  if (!/^text\/plain; version=0\.0\.4/.test(res.headers.get('content-type') ?? '')) throw new Error(`content type ${res.headers.get('content-type')}`);
  const text = await res.text();
  const typed = parsePrometheusTextFormat(text);
  const histograms = new Set(typed.filter((f) => f.type === 'HISTOGRAM').map((f) => f.name));
  const series = parsePrometheusTextFormat(text.replace(/^# TYPE (\S+) histogram\n/gm, ''));
  return [...typed.filter((f) => !histograms.has(f.name)), ...series.filter((f) => /_(bucket|sum|count)$/.test(f.name) && histograms.has(f.name.replace(/_(bucket|sum|count)$/, ''))), ...typed.filter((f) => histograms.has(f.name))];
}

/** Sum of a series' samples whose labels include `labels`. */
function value(families: ParsedFamily[], name: string, labels: Record<string, string> = {}): number {
  // Untyped series of one name come back as one family per run of lines: take them all.
  const matching = families.filter((f) => f.name === name);
  if (matching.length === 0) throw new Error(`no metric ${name}`);
  return matching.flatMap((f) => f.metrics).filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v)).reduce((sum, m) => sum + Number(m.value), 0);
}

test('counters move with real DHCP, TFTP and HTTP traffic and a real job; histograms get the durations', async (t) => {
  const [dhcpPort, pxePort, clientPort] = await freePorts(3);
  const ts = await startTestServer({
    tftp: true,
    overrides: { advertisedIp: '127.0.0.1', 'dhcp.mode': 'proxy', 'dhcp.subnet': '127.0.0.0/8', 'dhcp.port': dhcpPort, 'dhcp.pxePort': pxePort, 'dhcp.clientPort': clientPort },
  });
  t.teardown(() => ts.stop());
  const before = await scrape(ts);
  for (const f of ['netimage_http_requests_total', 'netimage_tftp_requests_total', 'netimage_tftp_active_transfers', 'netimage_dhcp_requests_total', 'netimage_jobs', 'netimage_job_duration_seconds', 'netimage_boot_stage_duration_seconds']) {
    t.truthy(before.find((x) => x.name === f), `${f} is exported`);
  }
  t.is(before.find((f) => f.name === 'netimage_job_duration_seconds')!.type, 'HISTOGRAM');
  t.is(value(before, 'netimage_tftp_requests_total'), 0);
  t.is(value(before, 'netimage_dhcp_requests_total'), 0);

  // DHCP: a PXE request to port 4011 (answered, unicast back to us) and a plain DISCOVER (ignored).
  const client = createSocket('udp4');
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => client.close());
  const replies: Buffer[] = [];
  client.on('message', (d) => replies.push(d));
  const pxeRequest = fixture('proxy/017-request-68to4011.hex');
  Buffer.from([127, 0, 0, 1]).copy(pxeRequest, 12); // ciaddr: the captured client's address -> ours
  client.send(pxeRequest, pxePort, '127.0.0.1');
  client.send(fixture('proxy/001-discover-68to67.hex'), dhcpPort, '127.0.0.1');
  const deadline = Date.now() + 3000;
  while (replies.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.is(replies.length, 1, 'the PXE request was answered');

  // TFTP: grub.cfg, as firmware's grub would fetch it.
  const tftp = await exec('curl', ['-s', '--max-time', '10', `tftp://127.0.0.1:${ts.server.protocols.tftpPort}/grub/grub.cfg`], { encoding: 'buffer' });
  t.true(tftp.stdout.length > 0);

  // HTTP and a job: boot config read -> agent started -> result.
  const job = await issueJob(ts, { clientId: 'pc01', mac: '52:54:00:55:00:01', productId: 'hwinvent' });
  t.is((await agentCall(ts.url, job.token, 'GET', '/job')).status, 200);
  await new Promise((r) => setTimeout(r, 50));
  t.is((await agentCall(ts.url, job.token, 'POST', '/job/result', { result: 'successful' })).status, 200);
  await new Promise((r) => setTimeout(r, 100)); // the job-duration observation reads the store

  const after = await scrape(ts);
  t.is(value(after, 'netimage_dhcp_requests_total', { port: 'pxe' }), 1);
  t.is(value(after, 'netimage_dhcp_requests_total', { port: 'dhcp' }), 1);
  t.is(value(after, 'netimage_dhcp_replies_total'), 1);
  t.is(value(after, 'netimage_dhcp_ignored_total'), 1);
  t.is(value(after, 'netimage_dhcp_sent_bytes_total'), replies[0]!.length);
  t.is(value(after, 'netimage_tftp_requests_total'), 1);
  t.is(value(after, 'netimage_tftp_transfers_total', { result: 'completed' }), 1);
  t.is(value(after, 'netimage_tftp_bytes_sent_total'), tftp.stdout.length);
  t.is(value(after, 'netimage_tftp_active_transfers'), 0);
  t.is(value(after, 'netimage_http_requests_total', { route: '/boot/*', status: '200' }), 1, 'the boot config read over HTTP');
  t.true(value(after, 'netimage_http_requests_total', { route: '/api/v1/clients', method: 'POST', status: '201' }) >= 1);
  t.true(value(after, 'netimage_http_requests_total', { route: '/metrics' }) >= 1, 'the first scrape is counted');
  t.true(value(after, 'netimage_http_response_bytes_total', { route: '/boot/*' }) > 0);
  t.is(value(after, 'netimage_jobs', { state: 'succeeded', product: 'hwinvent' }), 1);
  t.is(value(after, 'netimage_job_duration_seconds_count', { product: 'hwinvent', state: 'succeeded' }), 1, 'one job observed');
  t.true(value(after, 'netimage_job_duration_seconds_sum', { product: 'hwinvent', state: 'succeeded' }) > 0);
  t.is(value(after, 'netimage_boot_stage_duration_seconds_count', { stage: 'boot', product: 'hwinvent' }), 1);
  t.is(value(after, 'netimage_boot_stage_duration_seconds_count', { stage: 'work', product: 'hwinvent' }), 1);
  t.is(value(after, 'netimage_boot_stage_duration_seconds_bucket', { stage: 'boot', le: '+Inf' }), 1);
  t.falsy(before.find((f) => f.name === 'netimage_job_duration_seconds_count'), 'no job observed before');
});

test('/healthz: 200 with store and listeners up; 503 naming the listener that is down', async (t) => {
  const ts = await startTestServer({ tftp: true });
  t.teardown(() => ts.stop());
  const ok = await fetch(`${ts.url}/healthz`);
  t.is(ok.status, 200);
  t.like(await ok.json(), { status: 'ok', checks: { store: { ok: true }, http: { ok: true }, tftp: { ok: true, detail: 'up' }, dhcp: { ok: true, detail: 'disabled' }, scheduler: { ok: true } } });
  await ts.server.protocols.stop();
  const down = await fetch(`${ts.url}/healthz`);
  t.is(down.status, 503);
  t.like(await down.json(), { status: 'failing', checks: { tftp: { ok: false, detail: 'down' }, store: { ok: true } } });
});

test('/metrics: loopback needs no token; other addresses need metrics.token (never the admin token)', (t) => {
  const req = (remoteAddress: string, authorization?: string) => ({ socket: { remoteAddress }, headers: authorization ? { authorization } : {} }) as unknown as FastifyRequest;
  const token = 'metrics-secret-0123456789';
  t.true(metricsAllowed(req('127.0.0.1'), null));
  t.true(metricsAllowed(req('::1'), null));
  t.true(metricsAllowed(req('::ffff:127.0.0.1'), null));
  t.false(metricsAllowed(req('10.1.101.7'), null), 'no token configured: loopback only');
  t.false(metricsAllowed(req('10.1.101.7', 'Bearer wrong'), token));
  t.false(metricsAllowed(req('10.1.101.7', `Bearer ${token}x`), token));
  t.true(metricsAllowed(req('10.1.101.7', `Bearer ${token}`), token));
});

test('metrics.enabled off: no /metrics route; a short metrics token is a config error', async (t) => {
  const ts = await startTestServer({ overrides: { 'metrics.enabled': false } });
  t.teardown(() => ts.stop());
  t.is((await fetch(`${ts.url}/metrics`)).status, 404);
  await t.throwsAsync(startTestServer({ overrides: { 'metrics.token': 'short' } }), { message: /metrics\.token/ });
});
