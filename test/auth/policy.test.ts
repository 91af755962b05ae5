// The role table (auth/policy.ts), pure: what an operator may do to which clients and groups.
import test from 'ava';
import { ProductId } from '../../lib/products.ts';
import { decide, ruleOf, ROUTE_RULES, type AccessRequest, type Principal } from '../../bootserver/auth/policy.ts';

const admin: Principal = { actor: 'alice', role: 'admin', groups: [], via: 'ui' };
const op: Principal = { actor: 'olga', role: 'operator', groups: ['room1', 'room2'], via: 'cli' };
const A = '/api/v1';

function req(method: string, route: string, params: Record<string, string> = {}, body: unknown = undefined, clients: AccessRequest['clients'] = []): AccessRequest {
  return { method, route, params, body, clients };
}
const groupAction = (group: string, productId: string, actionRequest = 'setup') =>
  req('POST', `${A}/groups/:id/action`, { id: group }, { productId, actionRequest }, [{ id: 'pc01', group }]);
const clientAction = (group: string | null, productId: string, actionRequest = 'setup') =>
  req('PUT', `${A}/clients/:id/products/:productId/action`, { id: 'pc01', productId }, { actionRequest }, [{ id: 'pc01', group }]);

test('an admin may do everything, including routes the table does not name', (t) => {
  for (const r of [groupAction('room9', ProductId.prepare), req('POST', `${A}/users`), req('DELETE', `${A}/some/new/route`), req('GET', `${A}/audit`)]) t.true(decide(admin, r).ok);
});

test('an operator: restore and backup in their groups, per group or per client; clearing any request there', (t) => {
  for (const p of [ProductId.restore, ProductId.backup]) {
    t.true(decide(op, groupAction('room1', p)).ok, `group ${p}`);
    t.true(decide(op, clientAction('room2', p)).ok, `client ${p}`);
  }
  t.true(decide(op, groupAction('room1', ProductId.prepare, 'none')).ok, 'clearing a prepare is not destructive');
  t.true(decide(op, clientAction('room1', ProductId.delimage, 'none')).ok);
});

test('an operator: destructive products other than restore are refused even in their own room, with the reason', (t) => {
  for (const p of [ProductId.prepare, ProductId.delimage, ProductId.ubuntu, ProductId.debian, ProductId.win11, ProductId.wimCapture, ProductId.hwinvent]) {
    const g = decide(op, groupAction('room1', p));
    t.false(g.ok, p);
    if (!g.ok) t.regex(g.reason, new RegExp(`an operator may request only .* \\(not ${p}\\)`));
    t.false(decide(op, clientAction('room1', p)).ok, p);
  }
});

test('an operator: nothing in other groups, nor on ungrouped clients', (t) => {
  const g = decide(op, groupAction('room3', ProductId.restore));
  t.deepEqual(g, { ok: false, reason: 'group room3 is not one of your groups (room1, room2)' });
  const c = decide(op, clientAction('room3', ProductId.restore));
  t.deepEqual(c, { ok: false, reason: 'client pc01 is in room3, not in your groups (room1, room2)' });
  t.false(decide(op, clientAction(null, ProductId.backup)).ok, 'ungrouped');
  t.false(decide(op, req('POST', `${A}/groups/:id/wake`, { id: 'room3' })).ok);
  t.true(decide(op, req('POST', `${A}/groups/:id/wake`, { id: 'room2' })).ok);
  t.false(decide(op, req('POST', `${A}/clients/:id/wake`, { id: 'pc01' }, undefined, [{ id: 'pc01', group: 'room3' }])).ok);
  t.true(decide(op, req('POST', `${A}/clients/:id/wake`, { id: 'pc01' }, undefined, [{ id: 'pc01', group: 'room1' }])).ok);
  t.true(decide(op, req('POST', `${A}/clients/:id/wake`, { id: 'ghost' })).ok, 'an unknown client: the route answers 404');
});

test('an operator: no settings, no registry changes, no user management, no audit; own tokens only', (t) => {
  const refused = [
    req('POST', `${A}/clients`),
    req('PATCH', `${A}/clients/:id`, { id: 'pc01' }),
    req('DELETE', `${A}/groups/:id`, { id: 'room1' }),
    req('PUT', `${A}/clients/:id/products/:productId/properties`, { id: 'pc01', productId: ProductId.restore }),
    req('PUT', `${A}/groups/:id/wake-target`, { id: 'room1' }),
    req('POST', `${A}/schedules`),
    req('POST', `${A}/os/builds`),
    req('DELETE', `${A}/depot/:kind/:name`),
    req('POST', `${A}/users`),
    req('PATCH', `${A}/users/:name`, { name: 'olga' }),
    req('GET', `${A}/users`),
    req('GET', `${A}/audit`),
    req('POST', `${A}/users/:name/tokens`, { name: 'alice' }),
    req('POST', `${A}/a/route/added/later`),
  ];
  for (const r of refused) t.false(decide(op, r).ok, `${r.method} ${r.route}`);
  for (const r of [req('GET', `${A}/clients`), req('GET', `${A}/jobs/:id/log`), req('POST', `${A}/events/tickets`), req('DELETE', `${A}/session`), req('POST', `${A}/users/:name/tokens`, { name: 'olga' }), req('DELETE', `${A}/users/:name/tokens/:tokenName`, { name: 'olga', tokenName: 'x' })]) {
    t.true(decide(op, r).ok, `${r.method} ${r.route}`);
  }
});

test('the table: GET is open to every role unless named; every other method defaults to admin', (t) => {
  t.deepEqual(ruleOf('GET', `${A}/anything`), { kind: 'any' });
  t.deepEqual(ruleOf('DELETE', `${A}/anything`), { kind: 'admin' });
  for (const key of Object.keys(ROUTE_RULES)) t.regex(key, /^(GET|POST|PUT|PATCH|DELETE) \/api\/v1\//);
});
