// /users: user accounts (admin), and API tokens (admin, or the user for their own: auth/policy.ts).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { createTokenBody, createUserBody, updateUserBody, userParams, userTokenParams } from './auth-schemas.ts';
import type { AdminApiDeps } from './deps.ts';

export const userRoutes: FastifyPluginAsyncZod<AdminApiDeps> = async (r, { auth: { users } }) => {
  const tags = ['users'];
  r.get('/users', { schema: { tags, summary: 'Users with their role and groups' } }, async () => users.list());
  r.post('/users', { schema: { tags, summary: 'Add a user (role admin or operator; an operator acts on its groups only)', body: createUserBody } }, async (req, reply) => {
    return reply.status(201).send(await users.add(req.body));
  });
  r.get('/users/:name', { schema: { tags, summary: 'One user', params: userParams } }, async (req) => users.get(req.params.name));
  r.patch('/users/:name', { schema: { tags, summary: "Change a user's role, groups or password (a new password ends their sessions)", params: userParams, body: updateUserBody } }, async (req) =>
    users.update(req.params.name, req.body),
  );
  r.delete('/users/:name', { schema: { tags, summary: 'Remove a user with their tokens and sessions', params: userParams } }, async (req, reply) => {
    await users.remove(req.params.name);
    return reply.status(204).send();
  });
  r.get('/users/:name/tokens', { schema: { tags, summary: "A user's API tokens (names and use, never the tokens)", params: userParams } }, async (req) => users.listTokens(req.params.name));
  r.post('/users/:name/tokens', { schema: { tags, summary: 'A new API token for the CLI (shown once)', params: userParams, body: createTokenBody } }, async (req, reply) => {
    return reply.status(201).header('cache-control', 'no-store').send(await users.createToken(req.params.name, req.body.name));
  });
  r.delete('/users/:name/tokens/:tokenName', { schema: { tags, summary: 'Revoke an API token', params: userTokenParams } }, async (req, reply) => {
    await users.removeToken(req.params.name, req.params.tokenName);
    return reply.status(204).send();
  });
};
