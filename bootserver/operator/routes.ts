// The operator features' HTTP surface in one place (Wake-on-LAN now; schedules, /metrics and
// /healthz beside it), so app.ts needs one call and the features stay in their own folders.
import type { FastifyInstance } from 'fastify';
import type { Store } from '../store/types.ts';
import { adminAuth } from '../http/auth.ts';
import type { WakeService } from '../wol/service.ts';
import { registerWakeRoutes } from '../wol/routes.ts';

export interface OperatorHttpDeps {
  wake: WakeService;
}

export async function registerOperatorRoutes(app: FastifyInstance, store: Store, deps: OperatorHttpDeps): Promise<void> {
  await app.register(
    async (api) => {
      api.addHook('onRequest', adminAuth(store));
      registerWakeRoutes(api, { store, wake: deps.wake });
    },
    { prefix: '/api/v1' },
  );
}
