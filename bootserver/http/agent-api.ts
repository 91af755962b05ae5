// The agent API under /agent/v1: the boot image authenticates with its one-time job token and
// fetches its job, reports progress/logs/result, and makes the few client-scoped changes its
// product needs. Schemas are shared with the agent (lib/agent-protocol.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  AGENT_API_PREFIX,
  AGENT_LOG_MAX_BYTES,
  agentActionRequests,
  agentInventory,
  agentProductStates,
  agentProgress,
  agentPropertyUpdate,
  agentResult,
  FirstBootReportSchema,
} from '../../lib/agent-protocol.ts';
import type { NetbootService } from '../service/netboot.ts';
import { AgentAuthError } from '../service/netboot.ts';
import { AgentSession } from '../service/agent-session.ts';
import type { OsInstallService } from '../service/os-install.ts';
import { bearerToken } from './auth.ts';
import { localAddresses, serverBaseUrl, type ServerAddressConfig } from './public-url.ts';
import { ForbiddenError } from './errors.ts';
import { goldenEntryName, SEED_SESSION_PATH } from '../../lib/golden.ts';
import { ProductId } from '../../lib/products.ts';
import { serverImageOf } from '../depot/golden-restore.ts';
import type { SeedSessions } from '../seed/sessions.ts';
import { StoreNotFoundError } from '../store/types.ts';

function token(request: FastifyRequest): string {
  const t = bearerToken(request);
  if (!t) throw new AgentAuthError('missing job token: send "Authorization: Bearer <netimage.token from the kernel command line>"');
  return t;
}

/**
 * Every /agent/v1 call but `/time` carries a bearer token: one without is refused (401) before its
 * body is parsed or validated, as on the admin API, whichever module registered the route. The
 * token itself is checked by the handler, inside its store transaction (agent-session.ts).
 */
export function addAgentTokenGate(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    const url = req.routeOptions.url;
    if (!url?.startsWith(`${AGENT_API_PREFIX}/`) || url === `${AGENT_API_PREFIX}/time` || bearerToken(req)) return;
    if (url === `${AGENT_API_PREFIX}/first-boot`) throw new AgentAuthError(MISSING_FIRST_BOOT_TOKEN);
    token(req);
  });
}

const MISSING_FIRST_BOOT_TOKEN = 'missing first-boot token: send "Authorization: Bearer <token from /etc/netimage/first-boot.json>"';

export async function registerAgentApi(app: FastifyInstance, deps: { service: NetbootService }): Promise<void> {
  // The agent's calls, each checked against its token in one place (agent-session.ts).
  const agent = new AgentSession(deps.service);
  await app.register(
    async (api) => {
      const r = api.withTypeProvider<ZodTypeProvider>();
      api.addContentTypeParser('text/plain', { parseAs: 'string', bodyLimit: AGENT_LOG_MAX_BYTES }, (_req, body, done) => done(null, body));
      const tags = ['agent'];

      r.get('/time', { schema: { tags, summary: 'Server time (clock sync for the boot image)' } }, async () => ({ serverTime: new Date().toISOString() }));
      r.get('/job', { schema: { tags, summary: 'The job of this token' } }, async (req) => agent.fetchJob(token(req)));
      r.post('/job/progress', { schema: { tags, summary: 'Progress %, message and log lines', body: agentProgress } }, async (req) => {
        await agent.progress(token(req), req.body);
        return { ok: true };
      });
      r.post('/job/result', { schema: { tags, summary: 'The result (idempotent)', body: agentResult } }, async (req) => {
        const { alreadyRecorded } = await agent.result(token(req), req.body);
        return { ok: true, alreadyRecorded };
      });
      r.post('/job/log', { schema: { tags, summary: 'The full agent log (text/plain)', body: z.string() } }, async (req) => {
        await agent.log(token(req), req.body);
        return { ok: true };
      });
      r.post('/client/properties', { schema: { tags, summary: 'Set property values of this client (with restore\'s imagefiles_list: the details of those images)', body: agentPropertyUpdate } }, async (req) => {
        await agent.setProperties(token(req), req.body.productId, req.body.values, req.body.images);
        return { ok: true };
      });
      r.post('/client/action-requests', { schema: { tags, summary: 'Queue other products for this client', body: agentActionRequests } }, async (req) => {
        await agent.setActionRequests(token(req), req.body.requests);
        return { ok: true };
      });
      r.get('/client/product-states', { schema: { tags, summary: 'Product states of this client' } }, async (req) => ({ states: await agent.getProductStates(token(req)) }));
      r.put('/client/product-states', { schema: { tags, summary: 'Restore saved product states of this client', body: agentProductStates } }, async (req) => {
        await agent.putProductStates(token(req), req.body.states);
        return { ok: true };
      });
      r.put('/client/inventory', { schema: { tags, summary: 'Hardware inventory of this client', body: agentInventory } }, async (req) => {
        await agent.putInventory(token(req), req.body);
        return { ok: true };
      });
    },
    { prefix: AGENT_API_PREFIX },
  );
}

/**
 * The OS install's two routes (service/os-install.ts), registered with the depot and builder
 * (os-images/wiring.ts):
 *   GET  /agent/v1/os-install   the install plan, with the job token; mints a fresh first-boot token
 *   GET  /agent/v1/windows-install  the same for unattended Windows (WinPE staging plan)
 *   POST /agent/v1/first-boot   the installed system's report, with that first-boot token (once)
 */
export async function registerOsInstallAgentApi(app: FastifyInstance, deps: { installs: OsInstallService; address: ServerAddressConfig }): Promise<void> {
  /**
   * Where the installed system reports: http.publicUrl, else the address the agent reached us at
   * (its Host header only when that is an address of this server: public-url.ts).
   */
  const baseUrl = (req: FastifyRequest): string => {
    const listening = app.server.address();
    const choice = serverBaseUrl(
      deps.address,
      { protocol: req.protocol, host: req.headers.host ?? '', localAddress: req.socket.localAddress, localPort: req.socket.localPort },
      typeof listening === 'object' && listening ? listening.port : 0,
      localAddresses(),
    );
    if (choice.refusedHost !== null) req.log.warn({ host: choice.refusedHost, used: choice.url, remote: req.ip }, 'agent request Host header names no address of this server: not used for the installed system (set http.publicUrl to name the server)');
    return choice.url;
  };
  await app.register(
    async (api) => {
      const r = api.withTypeProvider<ZodTypeProvider>();
      const tags = ['agent'];
      r.get('/os-install', { schema: { tags, summary: 'The install plan of an OS install job (mints a fresh first-boot token)' } }, async (req) => deps.installs.plan(token(req), baseUrl(req)));
      r.get('/windows-install', { schema: { tags, summary: 'The staging plan of an unattended Windows job (mints a fresh completion token)' } }, async (req) =>
        deps.installs.windowsPlan(token(req), baseUrl(req)),
      );
      r.post('/first-boot', { schema: { tags, summary: 'First-boot report of an installed system (one-time first-boot token)', body: FirstBootReportSchema } }, async (req) => {
        const t = bearerToken(req);
        if (!t) throw new AgentAuthError(MISSING_FIRST_BOOT_TOKEN);
        await deps.installs.firstBoot(t, req.body);
        return { ok: true };
      });
    },
    { prefix: AGENT_API_PREFIX },
  );
}

/**
 * GET /agent/v1/seed: a restore job's room seeding session (bootserver/seed/sessions.ts): the
 * multicast group and port, the manifest, and the depot path for HTTP catch-up, which the same job
 * token reads (its server_image). 404 when the room has no session for it (the PC fetches over
 * HTTP and says so in its log).
 */
export async function registerSeedAgentApi(app: FastifyInstance, deps: { seeding: SeedSessions; service: NetbootService; agent: AgentSession }): Promise<void> {
  const bare = (a: string | undefined) => (a ?? '').replace(/^::ffff:/, '');
  await app.register(
    async (api) => {
      api.get(SEED_SESSION_PATH, { schema: { tags: ['agent'], summary: "A restore job's room seeding session (multicast group, manifest, catch-up path)" } }, async (req) => {
        const job = await deps.agent.jobOfToken(token(req));
        if (job.state !== 'booting' && job.state !== 'running') throw new ForbiddenError(`job ${job.id} is ${job.state}: its token no longer joins a seeding`);
        if (job.productId !== ProductId.restore) throw new ForbiddenError(`a ${job.productId} job has no room seeding (only ${ProductId.restore} with server_image)`);
        const entry = goldenEntryName(serverImageOf(await deps.service.effectiveProperties(job.clientId, job.productId)));
        if (!entry) throw new StoreNotFoundError(`job ${job.id} has no server_image: nothing to seed`);
        const client = await deps.service.requireClient(job.clientId);
        const session = await deps.seeding.join(job.clientId, client.group, entry, bare(req.socket.localAddress), bare(req.socket.remoteAddress));
        if (!session) throw new StoreNotFoundError(`no room seeding of golden/${entry} for ${job.clientId}${client.group ? ` in group ${client.group}` : ' (in no group)'}: set the restore for the group with server_image_multicast=true`);
        return session;
      });
    },
    { prefix: AGENT_API_PREFIX },
  );
}
