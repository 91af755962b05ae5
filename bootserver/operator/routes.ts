// The operator features' HTTP surface in one place (Wake-on-LAN now; schedules, /metrics and
// /healthz beside it), so app.ts needs one call and the features stay in their own folders.
import type { FastifyInstance } from 'fastify';
import type { Store } from '../store/types.ts';
import { adminAuth } from '../http/auth.ts';
import type { WakeService } from '../wol/service.ts';
import { registerWakeRoutes } from '../wol/routes.ts';
import type { Clock, Scheduler } from '../schedules/scheduler.ts';
import { registerScheduleRoutes } from '../schedules/routes.ts';
import type { ServerMetrics } from '../metrics/metrics.ts';
import { registerMetricsRoutes, type ListenerState } from '../metrics/routes.ts';

export interface OperatorHttpDeps {
  wake: WakeService;
  scheduler: Scheduler;
  clock: Clock;
  /** null when metrics.enabled is off. */
  metrics: ServerMetrics | null;
  metricsToken: string | null;
  listeners: () => ListenerState;
  version: string;
}

export async function registerOperatorRoutes(app: FastifyInstance, store: Store, deps: OperatorHttpDeps): Promise<void> {
  registerMetricsRoutes(app, { metrics: deps.metrics, token: deps.metricsToken, store, listeners: deps.listeners, version: deps.version });
  await app.register(
    async (api) => {
      api.addHook('onRequest', adminAuth(store));
      registerWakeRoutes(api, { store, wake: deps.wake });
      registerScheduleRoutes(api, { store, scheduler: deps.scheduler, clock: deps.clock });
    },
    { prefix: '/api/v1' },
  );
}
