// Admin API for root filesystem builds (`netimage os build` is a client of it):
//   POST /api/v1/os/builds          start a build, or get the cached entry at once (200) / the running build (202)
//   GET  /api/v1/os/builds          builds since the server started
//   GET  /api/v1/os/builds/:id      one build; ?after=N returns its output lines from N on
//   GET  /api/v1/os/installs        OS installs and their first-boot state (?state=waiting, ?client=pc01)
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Store } from '../store/types.ts';
import { adminAuth } from '../http/auth.ts';
import { StoreNotFoundError } from '../store/types.ts';
import type { OsBuild, OsImageBuilder } from './build.ts';
import type { InstallPolicy } from './install-products.ts';
import { PACKAGE_NAME } from './spec.ts';

export const osBuildBody = z
  .object({
    os: z.string().min(1).max(64),
    // The value in the message: one wrong name among several must be findable.
    packages: z.array(z.string().regex(PACKAGE_NAME, { error: (issue) => `${JSON.stringify(issue.input)} is not a Debian package name (letters a-z, digits, "+", "-", ".")` })).max(500).default([]),
    mirror: z.url({ protocol: /^https?$/ }).nullable().default(null),
    proxy: z.url({ protocol: /^https?$/ }).nullable().default(null),
    rebuild: z.boolean().default(false),
  })
  .strict();

const buildParams = z.object({ id: z.uuid() }).strict();
const installsQuery = z
  .object({
    state: z.enum(['installing', 'waiting', 'reported', 'timed_out', 'superseded']).optional(),
    client: z.string().min(1).max(253).optional(),
  })
  .strict();
const buildQuery = z.object({ after: z.coerce.number().int().min(0).optional() }).strict();

function summary(build: OsBuild) {
  const { lines: _lines, ...rest } = build;
  return rest;
}

export async function registerOsImagesApi(app: FastifyInstance, deps: { store: Store; builder: OsImageBuilder; policy: InstallPolicy }): Promise<void> {
  const { builder, policy } = deps;
  await app.register(
    async (api) => {
      const r = api.withTypeProvider<ZodTypeProvider>();
      api.addHook('onRequest', adminAuth(deps.store));
      const tags = ['os-images'];
      r.post('/os/builds', { schema: { tags, summary: 'Build a root filesystem into the depot (cached by the hash of its inputs)', body: osBuildBody } }, async (req, reply) => {
        const b = req.body;
        const resolved = policy.resolveOs(b.os, { mirror: b.mirror, additionalPackages: b.packages, proxy: b.proxy });
        await policy.checkMirror(`os build ${b.os}`, resolved);
        const build = await builder.ensure({ spec: resolved.spec, proxy: resolved.proxy, rebuild: b.rebuild });
        return reply.status(build.state === 'done' ? 200 : 202).send(summary(build));
      });
      r.get('/os/builds', { schema: { tags, summary: 'Root filesystem builds since the server started' } }, async () => builder.list().map(summary));
      r.get('/os/installs', { schema: { tags, summary: 'OS installs: laid down and waiting for the first-boot report, reported, timed out', querystring: installsQuery } }, async (req) => {
        const rows = await deps.store.listOsInstalls({ ...(req.query.client ? { clientId: req.query.client } : {}), ...(req.query.state ? { states: [req.query.state] } : {}) });
        // The token hash stays in the store: it is nobody's business, not even an admin's.
        return rows.map(({ tokenHash: _hash, ...rest }) => rest);
      });
      r.get('/os/builds/:id', { schema: { tags, summary: 'One build; ?after=N: its output lines from line N on', params: buildParams, querystring: buildQuery } }, async (req) => {
        const build = builder.get(req.params.id);
        if (!build) throw new StoreNotFoundError(`build ${req.params.id} not found (builds are kept until the server restarts)`);
        const after = req.query.after ?? 0;
        return { ...summary(build), lines: build.lines.slice(after), next: build.lines.length };
      });
    },
    { prefix: '/api/v1' },
  );
}
