// Builds the fastify app: admin API, agent API, boot files, OpenAPI docs and health.
import { processTimeZone } from '../../lib/zoned-time.ts';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from '../../lib/logger.ts';
import type { Store } from '../store/types.ts';
import type { NetbootService } from '../service/netboot.ts';
import type { AdminService } from '../service/admin.ts';
import type { EventTickets } from '../service/event-tickets.ts';
import type { BootConfigResponder } from '../boot/config-responder.ts';
import { installErrorHandler } from './errors.ts';
import { registerAdminApi } from './admin/index.ts';
import { addAgentTokenGate, registerAgentApi } from './agent-api.ts';
import { registerBootFiles } from './boot-files.ts';
import type { ClientNoticeBus } from '../service/event-bus.ts';
import { registerOperatorRoutes, type OperatorHttpDeps } from '../operator/routes.ts';
import { registerOsImagesHttp, type OsImages } from '../os-images/wiring.ts';
import { registerWebUi } from './web-ui.ts';
import { installAccessControl } from './auth.ts';
import { UserService } from '../auth/users.ts';
import { DEFAULT_SCRYPT } from '../auth/passwords.ts';
import { LoginLimiter } from '../auth/login-limiter.ts';
import type { SessionSettings } from '../auth/sessions.ts';

export interface HttpAppDeps {
  store: Store;
  service: NetbootService;
  admin: AdminService;
  tickets: EventTickets;
  responder: BootConfigResponder;
  bootRoot: string;
  log: Logger;
  version: string;
  /** Operator features (wake, schedules, metrics, health); left out by tests that need only the core. */
  operator?: OperatorHttpDeps & { notices: ClientNoticeBus };
  /** Depot and root filesystem builds (bootserver/os-images/wiring.ts). */
  osImages?: OsImages;
  /** UI sessions (config auth.*). */
  sessions: SessionSettings;
}

export async function buildHttpApp(deps: HttpAppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger and fastify's logger type differ only in generics.
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    // Per-request lines would drown the boot decisions we log ourselves.
    logController: new LogController({ disableRequestLogging: true }),
    // Let clients close idle connections first: grub reuses source ports across boots.
    keepAliveTimeout: 120_000,
    bodyLimit: 1024 * 1024,
    // fastify's default 10 s per plugin was exceeded by @fastify/swagger-ui's start (it reads its
    // static assets) on a loaded 2-core machine: the server then did not start at all.
    pluginTimeout: 60_000,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  // Before any route, so every answer is counted.
  deps.operator?.metrics?.instrumentHttp(app);
  // Before any route: every admin route, whoever registers it, is authorized and audited.
  installAccessControl(app, deps.store);

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'netimage API',
        version: deps.version,
        description:
          'Admin API (an API token in the Authorization header, or the session cookie of POST /api/v1/session with X-CSRF-Token on state-changing requests; GET /api/v1/events also takes ?ticket= from POST /api/v1/events/tickets) and agent API (bearer one-time job token).',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          session: { type: 'apiKey', in: 'cookie', name: 'netimage_session' },
          // GET /api/v1/events only: from POST /api/v1/events/tickets (EventSource cannot send headers).
          eventTicket: { type: 'apiKey', in: 'query', name: 'ticket' },
        },
      },
      security: [{ bearer: [] }, { session: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });

  // timeZone: the zone the server reads wall times in (schedules without one) and the CLI shows times in.
  app.get('/api/v1/health', { schema: { hide: true } }, async () => ({ ok: true, version: deps.version, timeZone: processTimeZone() }));
  const auth = { users: new UserService(deps.store, { ...DEFAULT_SCRYPT, log2N: deps.sessions.scryptLog2N }), limiter: new LoginLimiter(), settings: deps.sessions };
  addAgentTokenGate(app);
  await registerAdminApi(app, { ...deps, auth, wake: deps.operator?.wake, notices: deps.operator?.notices });
  if (deps.operator) await registerOperatorRoutes(app, deps.store, deps.operator);
  await registerAgentApi(app, deps);
  registerBootFiles(app, { bootRoot: deps.bootRoot, responder: deps.responder });
  if (deps.osImages) await registerOsImagesHttp(app, deps.osImages, deps);
  await registerWebUi(app);
  return app;
}
