// Browsers' EventSource cannot send headers: the event stream takes a short-lived ticket as
// ?ticket= instead, and that ticket opens nothing else.
import test from 'ava';
import { startTestServer } from '../helpers/server.ts';
import { EventTickets } from '../../bootserver/service/event-tickets.ts';

async function issueTicket(url: string, adminToken: string): Promise<{ status: number; body: { ticket: string; expiresAt: string } }> {
  const res = await fetch(`${url}/api/v1/events/tickets`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } });
  return { status: res.status, body: (await res.json()) as { ticket: string; expiresAt: string } };
}

test('a ticket opens the event stream for about a minute, and nothing else', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const before = Date.now();
  const { status, body } = await issueTicket(ts.url, ts.adminToken);
  t.is(status, 201);
  t.regex(body.ticket, /^[A-Za-z0-9_-]{32,}$/);
  const after = Date.now();
  const expires = Date.parse(body.expiresAt);
  t.true(expires >= before + 60_000 && expires <= after + 60_000, `expires ${expires - before} ms after the request`);

  const stream = await fetch(`${ts.url}/api/v1/events?ticket=${body.ticket}`);
  t.is(stream.status, 200);
  t.regex(stream.headers.get('content-type') ?? '', /text\/event-stream/);
  await stream.body?.cancel();

  const elsewhere: [string, string][] = [
    ['GET', '/api/v1/clients'],
    ['GET', '/api/v1/jobs'],
    ['GET', '/api/v1/jobs/7c4d3a1e-0000-4000-8000-000000000000/events'],
    ['POST', '/api/v1/events/tickets'],
    ['POST', '/api/v1/groups'],
  ];
  for (const [method, path] of elsewhere) {
    t.is((await fetch(`${ts.url}${path}?ticket=${body.ticket}`, { method })).status, 401, `${method} ${path} with ?ticket=`);
    t.is((await fetch(ts.url + path, { method, headers: { authorization: `Bearer ${body.ticket}` } })).status, 401, `${method} ${path} with the ticket as bearer`);
  }
  t.is((await fetch(`${ts.url}/api/v1/events?ticket=${body.ticket.slice(0, -2)}xx`)).status, 401, 'a wrong ticket');
  t.is((await fetch(`${ts.url}/api/v1/events?ticket=`)).status, 401, 'an empty ticket');
  t.is((await fetch(`${ts.url}/api/v1/events?access_token=${ts.adminToken}`)).status, 401, 'the admin token in the query');
  const header = await fetch(`${ts.url}/api/v1/events`, { headers: { authorization: `Bearer ${ts.adminToken}` } });
  t.is(header.status, 200, 'the admin token in a header still works (CLI)');
  await header.body?.cancel();
});

test('tickets need the admin token in a header to be issued', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  t.is((await fetch(`${ts.url}/api/v1/events/tickets`, { method: 'POST' })).status, 401);
  t.is((await fetch(`${ts.url}/api/v1/events/tickets?access_token=${ts.adminToken}`, { method: 'POST' })).status, 401);
});

test('a ticket stops working after 60 s; others stay valid; unknown ones never are', (t) => {
  let now = Date.parse('2026-01-01T10:00:00Z');
  const tickets = new EventTickets({ now: () => now });
  const first = tickets.issue();
  t.is(first.expiresAt, '2026-01-01T10:01:00.000Z');
  now += 30_000;
  const second = tickets.issue();
  t.true(tickets.valid(first.ticket));
  t.true(tickets.valid(first.ticket), 'usable more than once until it expires (EventSource reconnects)');
  now += 29_999;
  t.true(tickets.valid(first.ticket), 'valid until the last millisecond');
  now += 1;
  t.false(tickets.valid(first.ticket), 'expired after 60 s');
  t.true(tickets.valid(second.ticket));
  now += 30_000;
  t.false(tickets.valid(second.ticket));
  t.false(tickets.valid('nt_' + 'A'.repeat(32)));
  t.not(first.ticket, second.ticket);
});

test('the OpenAPI docs show the ticket route and that only the event stream takes a ticket', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const spec = (await (await fetch(`${ts.url}/api/docs/json`)).json()) as {
    paths: Record<string, Record<string, { security?: Record<string, string[]>[]; parameters?: { name: string; in: string }[] }>>;
    components: { securitySchemes: Record<string, unknown> };
  };
  t.like(spec.components.securitySchemes['eventTicket'], { type: 'apiKey', in: 'query', name: 'ticket' });
  t.truthy(spec.paths['/api/v1/events/tickets']?.['post']);
  t.deepEqual(spec.paths['/api/v1/events']?.['get']?.security, [{ bearer: [] }, { eventTicket: [] }]);
  const withTicket = Object.entries(spec.paths).flatMap(([path, ops]) =>
    Object.entries(ops).filter(([, op]) => JSON.stringify(op.security ?? []).includes('eventTicket') || (op.parameters ?? []).some((p) => p.name === 'ticket' || p.name === 'access_token')).map(([m]) => `${m} ${path}`),
  );
  t.deepEqual(withTicket, ['get /api/v1/events']);
});
