// /metrics (Prometheus text format) and /healthz.
//
// Who may read /metrics: the loopback interface without a token (a scraper or node exporter on
// the server itself), anyone else only with metrics.token as a bearer token. Not open by
// default because a school network has pupils on it and the counters tell when rooms are being
// re-imaged; not the admin token because a Prometheus config is read by more people than should
// be able to wipe a room.
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Store } from '../store/types.ts';
import type { ServerMetrics } from './metrics.ts';
import { UnauthorizedError } from '../http/errors.ts';

export interface ListenerState {
  http: boolean;
  /** null: disabled in the config. */
  tftp: boolean | null;
  dhcp: boolean | null;
  scheduler: boolean | null;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

function sameSecret(a: string, b: string): boolean {
  // Hash first: timingSafeEqual needs equal lengths, and the length must not leak either.
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

export function metricsAllowed(request: FastifyRequest, token: string | null): boolean {
  if (LOOPBACK.test(request.socket.remoteAddress ?? '')) return true;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
  return token !== null && m !== null && sameSecret(m[1]!, token);
}

export function registerMetricsRoutes(
  app: FastifyInstance,
  deps: { metrics: ServerMetrics | null; token: string | null; store: Store; listeners: () => ListenerState; version: string },
): void {
  if (deps.metrics) {
    const metrics = deps.metrics;
    app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
      if (!metricsAllowed(request, deps.token)) throw new UnauthorizedError('metrics: from loopback, or with "Authorization: Bearer <metrics.token>"', 'netimage metrics');
      return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  }

  // Open to all: a load balancer or systemd watchdog needs it, and it tells only up/down.
  app.get('/healthz', { schema: { hide: true } }, async (_request, reply) => {
    const checks: Record<string, { ok: boolean; detail: string }> = {};
    try {
      await Promise.race([deps.store.getMeta('server_secret'), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 2 s')), 2000).unref())]);
      checks['store'] = { ok: true, detail: 'reachable' };
    } catch (error) {
      checks['store'] = { ok: false, detail: (error as Error).message };
    }
    const listeners = deps.listeners();
    for (const [name, up] of Object.entries(listeners)) {
      if (up === null) checks[name] = { ok: true, detail: 'disabled' };
      else checks[name] = { ok: up, detail: up ? 'up' : 'down' };
    }
    const ok = Object.values(checks).every((c) => c.ok);
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'failing', version: deps.version, checks });
  });
}
