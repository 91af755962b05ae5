// bootserver/http/errors.ts: the one mapping from errors to HTTP answers, through a real fastify app.
import test from 'ava';
import Fastify from 'fastify';
import { z } from 'zod';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { ERROR_KINDS, NetimageError, type ErrorKind } from '../../lib/errors.ts';
import { BadRequestError, ForbiddenError, HTTP_STATUS, installErrorHandler, kindOfStatus, RateLimitedError, UnauthorizedError } from '../../bootserver/http/errors.ts';
import { StoreConflictError, StoreNotFoundError } from '../../bootserver/store/types.ts';
import { AgentAuthError, ConflictError } from '../../bootserver/service/netboot.ts';
import { PropertyValidationError } from '../../bootserver/products/properties.ts';
import { DepotConflictError, DepotError, DepotNotFoundError } from '../../bootserver/depot/depot.ts';
import { ApiError } from '../../bootserver/cli/api-client.ts';
import { ScheduleSpecError } from '../../bootserver/schedules/timing.ts';
import { AgentScopeError } from '../../bootserver/service/agent-session.ts';

async function appThrowing(make: () => unknown) {
  const app = Fastify({ logger: false });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installErrorHandler(app);
  app.get('/boom', async () => {
    throw make();
  });
  app.withTypeProvider<ZodTypeProvider>().post('/typed', { schema: { body: z.object({ mac: z.string() }) } }, async () => 'ok');
  await app.ready();
  return app;
}

const EXPECTED: Record<ErrorKind, [number, string]> = {
  invalid: [400, 'Bad Request'],
  unauthorized: [401, 'Unauthorized'],
  forbidden: [403, 'Forbidden'],
  rate_limited: [429, 'Too Many Requests'],
  not_found: [404, 'Not Found'],
  conflict: [409, 'Conflict'],
  unavailable: [503, 'Service Unavailable'],
  failed: [500, 'Internal Server Error'],
};

for (const kind of ERROR_KINDS) {
  test(`kind ${kind} answers ${EXPECTED[kind][0]}`, async (t) => {
    const app = await appThrowing(() => new NetimageError(kind, `the ${kind} reason`));
    const res = await app.inject({ method: 'GET', url: '/boom' });
    const [status, text] = EXPECTED[kind];
    t.is(res.statusCode, status);
    // A failure's message may name server internals (paths, commands): like a bug, it stays in the log.
    t.deepEqual(res.json(), { statusCode: status, error: text, message: kind === 'failed' ? 'internal error (see the server log)' : `the ${kind} reason` });
    await app.close();
  });
}

test('the table names every kind once and no two kinds share a status', (t) => {
  t.deepEqual(Object.keys(HTTP_STATUS).sort(), [...ERROR_KINDS].sort());
  t.is(new Set(Object.values(HTTP_STATUS)).size, ERROR_KINDS.length);
});

test('domain classes answer by their kind', async (t) => {
  const cases: [Error, number][] = [
    [new BadRequestError('b'), 400],
    [new PropertyValidationError('p'), 400],
    [new ScheduleSpecError('s'), 400],
    [new AgentAuthError('a'), 401],
    [new AgentScopeError('a'), 403],
    [new UnauthorizedError('u'), 401],
    [new ForbiddenError('f'), 403],
    [new StoreNotFoundError('n'), 404],
    [new DepotNotFoundError('d'), 404],
    [new StoreConflictError('s'), 409],
    [new ConflictError('c'), 409],
    [new DepotConflictError('d'), 409],
    [new DepotError('damaged'), 500],
  ];
  for (const [error, status] of cases) {
    const app = await appThrowing(() => error);
    t.is((await app.inject({ method: 'GET', url: '/boom' })).statusCode, status, error.name);
    await app.close();
  }
});

test('every 401 carries a WWW-Authenticate challenge, with the realm its error names', async (t) => {
  for (const [error, challenge] of [
    [new UnauthorizedError('u', 'netimage depot'), 'Bearer realm="netimage depot"'],
    [new UnauthorizedError('u'), 'Bearer realm="netimage"'],
    [new AgentAuthError('a'), 'Bearer realm="netimage"'],
  ] as const) {
    const app = await appThrowing(() => error);
    const res = await app.inject({ method: 'GET', url: '/boom' });
    t.is(res.headers['www-authenticate'], challenge, error.name);
    t.deepEqual(res.json(), { statusCode: 401, error: 'Unauthorized', message: error.message });
    await app.close();
  }
  const app = await appThrowing(() => new ForbiddenError('f'));
  t.is((await app.inject({ method: 'GET', url: '/boom' })).headers['www-authenticate'], undefined, 'a 403 has none');
  await app.close();
});

test('a rate-limited refusal is a 429 saying when to try again (Retry-After)', async (t) => {
  const app = await appThrowing(() => new RateLimitedError('too many failed logins: try again in 42 s', 42));
  const res = await app.inject({ method: 'GET', url: '/boom' });
  t.is(res.headers['retry-after'], '42');
  t.deepEqual(res.json(), { statusCode: 429, error: 'Too Many Requests', message: 'too many failed logins: try again in 42 s' });
  await app.close();
});

test('an unknown error is a 500 that leaks neither its message nor its stack', async (t) => {
  const app = await appThrowing(() => new Error('ENOENT /var/lib/netimage/secret-path'));
  const res = await app.inject({ method: 'GET', url: '/boom' });
  t.is(res.statusCode, 500);
  t.deepEqual(res.json(), { statusCode: 500, error: 'Internal Server Error', message: 'internal error (see the server log)' });
  t.notRegex(res.body, /secret-path|at /);
  await app.close();
});

test('a thrown non-error is a 500 too', async (t) => {
  const app = await appThrowing(() => 'just a string');
  const res = await app.inject({ method: 'GET', url: '/boom' });
  t.is(res.statusCode, 500);
  t.notRegex(res.body, /just a string/);
  await app.close();
});

test("fastify's own errors keep their status: schema validation 400, oversized body 413", async (t) => {
  const app = await appThrowing(() => null);
  const bad = await app.inject({ method: 'POST', url: '/typed', payload: { mac: 5 } });
  t.is(bad.statusCode, 400);
  t.regex(bad.json().message, /^body\.mac: /);
  const big = await app.inject({ method: 'POST', url: '/typed', payload: { mac: 'x'.repeat(1024 * 1024 + 10) } });
  t.is(big.statusCode, 413);
  t.is(big.json().error, 'Payload Too Large');
  await app.close();
});

test('the CLI reads an answer back into the same kind', (t) => {
  for (const kind of ERROR_KINDS) t.is(new ApiError(HTTP_STATUS[kind], 'x').kind, kind);
  t.is(kindOfStatus(0), 'unavailable', 'no answer at all');
  t.is(kindOfStatus(502), 'unavailable');
  t.is(kindOfStatus(413), 'invalid');
});
