// The server's Prometheus metrics (prom-client, one registry per server so tests can run several).
// Counters that the protocol servers already keep (TFTP, DHCP) and job counts in the store are
// read at scrape time; HTTP requests and job/boot-stage durations are observed as they happen.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../store/types.ts';
import type { JobEventBus, LiveJobEvent } from '../service/event-bus.ts';
import type { TftpServerStats } from '../tftp/server.ts';
import type { DhcpServerStats } from '../dhcp/server.ts';

export interface MetricsSources {
  store: Store;
  bus: JobEventBus;
  /** Counters of the running TFTP/DHCP servers (null when not running). */
  protocolStats: () => { tftp: TftpServerStats | null; dhcp: DhcpServerStats | null };
}

const TERMINAL = new Set(['succeeded', 'failed', 'exhausted', 'cancelled']);
/** Seconds: boot stages take seconds to minutes, imaging jobs minutes to an hour. */
const STAGE_BUCKETS = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
const JOB_BUCKETS = [10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200];

/** A counter whose value is read from a running total at scrape time. */
function totalCounter(registry: Registry, name: string, help: string, labelNames: string[], read: () => [Record<string, string>, number][]): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly httpRequests: Counter;
  private readonly httpBytes: Counter;
  private readonly jobDuration: Histogram;
  private readonly stageDuration: Histogram;
  /** Per job: its first config read, its current attempt's config read, and when its agent started. */
  private readonly jobTimes = new Map<string, { created: number; booting: number; running: number | null }>();
  private readonly unsubscribe: () => void;

  constructor(sources: MetricsSources) {
    const r = this.registry;
    collectDefaultMetrics({ register: r, prefix: 'netimage_' });
    this.httpRequests = new Counter({ name: 'netimage_http_requests_total', help: 'HTTP requests answered, by method, route and status', labelNames: ['method', 'route', 'status'], registers: [r] });
    this.httpBytes = new Counter({ name: 'netimage_http_response_bytes_total', help: 'HTTP response bytes sent (headers and body), by route', labelNames: ['route'], registers: [r] });

    const tftp = () => sources.protocolStats().tftp;
    const dhcp = () => sources.protocolStats().dhcp;
    totalCounter(r, 'netimage_tftp_requests_total', 'TFTP read/write requests received', [], () => [[{}, tftp()?.requests ?? 0]]);
    totalCounter(r, 'netimage_tftp_transfers_total', 'TFTP transfers ended, by result', ['result'], () => {
      const s = tftp();
      return [[{ result: 'completed' }, s?.completed ?? 0], [{ result: 'size_probe' }, s?.sizeProbes ?? 0], [{ result: 'failed' }, s?.failed ?? 0]];
    });
    totalCounter(r, 'netimage_tftp_refused_total', 'TFTP requests not served, by reason', ['reason'], () => {
      const s = tftp();
      return [[{ reason: 'not_found' }, s?.notFound ?? 0], [{ reason: 'refused' }, s?.refused ?? 0], [{ reason: 'malformed' }, s?.malformed ?? 0], [{ reason: 'busy' }, s?.dropped ?? 0]];
    });
    totalCounter(r, 'netimage_tftp_bytes_sent_total', 'TFTP file bytes sent by finished transfers', [], () => [[{}, tftp()?.bytesSent ?? 0]]);
    totalCounter(r, 'netimage_tftp_native_transfers_total', 'TFTP transfers started on the native sender (the rest ran in Node)', [], () => [[{}, tftp()?.native ?? 0]]);
    new Gauge({
      name: 'netimage_tftp_active_transfers',
      help: 'TFTP transfers running now',
      registers: [r],
      collect() {
        this.set(tftp()?.active ?? 0);
      },
    });
    totalCounter(r, 'netimage_dhcp_requests_total', 'DHCP datagrams received, by port (dhcp 67, pxe 4011)', ['port'], () => {
      const s = dhcp();
      return [[{ port: 'dhcp' }, s?.received.dhcp ?? 0], [{ port: 'pxe' }, s?.received.pxe ?? 0]];
    });
    totalCounter(r, 'netimage_dhcp_replies_total', 'DHCP replies sent', [], () => [[{}, dhcp()?.replies ?? 0]]);
    totalCounter(r, 'netimage_dhcp_ignored_total', 'Well-formed DHCP requests not answered (not PXE, not ours)', [], () => [[{}, dhcp()?.ignored ?? 0]]);
    totalCounter(r, 'netimage_dhcp_malformed_total', 'DHCP datagrams that did not parse', [], () => [[{}, dhcp()?.malformed ?? 0]]);
    totalCounter(r, 'netimage_dhcp_received_bytes_total', 'DHCP bytes received', [], () => [[{}, dhcp()?.bytesReceived ?? 0]]);
    totalCounter(r, 'netimage_dhcp_sent_bytes_total', 'DHCP bytes sent', [], () => [[{}, dhcp()?.bytesSent ?? 0]]);

    new Gauge({
      name: 'netimage_jobs',
      help: 'Jobs in the store, by state and product',
      labelNames: ['state', 'product'],
      registers: [r],
      async collect() {
        this.reset();
        for (const row of await sources.store.countJobs()) this.set({ state: row.state, product: row.productId }, row.count);
      },
    });
    this.jobDuration = new Histogram({ name: 'netimage_job_duration_seconds', help: 'Job time from first boot-config read to its end, by product and final state', labelNames: ['product', 'state'], buckets: JOB_BUCKETS, registers: [r] });
    this.stageDuration = new Histogram({
      name: 'netimage_boot_stage_duration_seconds',
      help: 'Per attempt: boot = config read to agent started (kernel, initrd, init, DHCP); work = agent started to result',
      labelNames: ['stage', 'product'],
      buckets: STAGE_BUCKETS,
      registers: [r],
    });
    this.unsubscribe = sources.bus.subscribe((e) => this.onJobEvent(e));
  }

  /**
   * Durations from the live job events (their timestamps). Jobs that started before this process
   * are not observed: their start is not in memory, and the store must not be read here (events
   * are published inside the store transaction that records them).
   */
  private onJobEvent(e: LiveJobEvent): void {
    if (e.kind !== 'state' && e.kind !== 'progress') return;
    const ts = Date.parse(e.ts);
    const times = this.jobTimes.get(e.jobId);
    if (e.state === 'booting') {
      this.jobTimes.set(e.jobId, { created: times?.created ?? ts, booting: ts, running: null });
    } else if (e.state === 'running' && times && times.running === null) {
      times.running = ts;
      this.stageDuration.observe({ stage: 'boot', product: e.productId }, (ts - times.booting) / 1000);
    } else if (TERMINAL.has(e.state) && times) {
      if (times.running !== null) this.stageDuration.observe({ stage: 'work', product: e.productId }, (ts - times.running) / 1000);
      this.jobDuration.observe({ product: e.productId, state: e.state }, (ts - times.created) / 1000);
      this.jobTimes.delete(e.jobId);
    }
  }

  /** Count every HTTP answer; call before routes are added so the hook covers all of them. */
  instrumentHttp(app: FastifyInstance): void {
    // Bytes on the wire: the socket's counter across the request. Boot files are written raw
    // (hijacked, exact header case for grub), so reply headers cannot tell their size.
    const written = new WeakMap<object, number>();
    app.addHook('onRequest', async (request) => {
      written.set(request.raw, request.raw.socket.bytesWritten);
    });
    app.addHook('onResponse', async (request, reply) => {
      // The route template keeps label values few (/boot/*, not every file name).
      const route = request.routeOptions.url ?? 'unmatched';
      this.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
      const start = written.get(request.raw);
      const bytes = start === undefined ? 0 : request.raw.socket.bytesWritten - start;
      if (bytes > 0) this.httpBytes.inc({ route }, bytes);
    });
  }

  close(): void {
    this.unsubscribe();
  }
}
