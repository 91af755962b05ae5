// Wake-on-LAN through the admin API and CLI of a real server. The group's target is a listener
// on 127.0.0.1 (loopback only: no broadcast on this machine's networks).
import test from 'ava';
import { createSocket, type Socket } from 'node:dgram';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startTestServer, readBootConfig, type TestServer } from '../helpers/server.ts';

const exec = promisify(execFile);
const MAC1 = '52:54:00:77:00:01';
const MAC2 = '52:54:00:77:00:02';

async function listener(t: import('ava').ExecutionContext): Promise<{ port: number; received: Buffer[] }> {
  const socket: Socket = createSocket('udp4');
  const received: Buffer[] = [];
  socket.on('message', (data) => received.push(data));
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  t.teardown(() => socket.close());
  return { port: socket.address().port, received };
}

async function room(ts: TestServer, port: number): Promise<void> {
  await ts.api('POST', '/api/v1/groups', { id: 'room101' });
  await ts.api('POST', '/api/v1/clients', { id: 'pc01', mac: MAC1, group: 'room101' });
  await ts.api('POST', '/api/v1/clients', { id: 'pc02', mac: MAC2, group: 'room101' });
  await ts.api('POST', '/api/v1/clients', { id: 'pc03', uuid: '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d', group: 'room101' });
  const put = await ts.api('PUT', '/api/v1/groups/room101/wake-target', { broadcast: '127.0.0.1', port });
  if (put.status !== 200) throw new Error(put.text);
}

const until = async (ok: () => boolean | Promise<boolean>, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
};

test('wake a client: the packet goes to its group target; a PC that never reads its config is marked did_not_wake, one that does is woke', async (t) => {
  const ts = await startTestServer({ overrides: { 'wake.timeoutSeconds': 1 } });
  t.teardown(() => ts.stop());
  const l = await listener(t);
  await room(ts, l.port);

  // Event stream: the notice must arrive live.
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const stream = await fetch(`${ts.url}/api/v1/events`, { headers: { authorization: `Bearer ${ts.adminToken}` }, signal: abort.signal });
  let sse = '';
  void (async () => {
    try {
      for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) sse += Buffer.from(chunk).toString();
    } catch {
      // aborted at teardown
    }
  })();

  const woke1 = await ts.api('POST', '/api/v1/clients/pc01/wake');
  t.is(woke1.status, 200, woke1.text);
  t.is(woke1.body.status, 'waiting');
  t.is(woke1.body.address, `127.0.0.1:${l.port}`);
  await ts.api('POST', '/api/v1/clients/pc02/wake');
  await until(() => l.received.length === 2);
  t.is(l.received[0]!.toString('hex'), 'ff'.repeat(6) + MAC1.replace(/:/g, '').repeat(16));
  t.is(l.received[1]!.toString('hex'), 'ff'.repeat(6) + MAC2.replace(/:/g, '').repeat(16));
  t.is((await ts.api('GET', '/api/v1/clients/pc01')).body.wake.status, 'waiting');

  // pc02 boots: grub reads its (local-boot) config before the deadline.
  await readBootConfig(ts, MAC2, null);
  await until(async () => (await ts.api('GET', '/api/v1/clients/pc02')).body.wake.status === 'woke');

  await until(async () => (await ts.api('GET', '/api/v1/clients/pc01')).body.wake.status === 'did_not_wake', 5000);
  const list = (await ts.api('GET', '/api/v1/clients')).body as { id: string; wake: { status: string } | null }[];
  t.deepEqual(list.map((c) => [c.id, c.wake?.status ?? null]), [['pc01', 'did_not_wake'], ['pc02', 'woke'], ['pc03', null]]);
  t.deepEqual((await ts.api('GET', '/api/v1/wake?status=did_not_wake')).body.map((w: { clientId: string }) => w.clientId), ['pc01']);
  await until(() => /event: client\ndata: .*"clientId":"pc01".*did not wake/.test(sse));
  t.notRegex(sse, /"clientId":"pc02"[^\n]*"did_not_wake"/, 'the PC that booted is not marked');
});

test('wake a group: every client with a MAC gets a packet, a UUID-only client is listed as skipped; bad input changes nothing', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const l = await listener(t);
  await room(ts, l.port);
  const r = await ts.api('POST', '/api/v1/groups/room101/wake');
  t.is(r.status, 200, r.text);
  t.deepEqual(r.body.woken.map((w: { clientId: string }) => w.clientId), ['pc01', 'pc02']);
  t.deepEqual(r.body.skipped.map((s: { clientId: string }) => s.clientId), ['pc03']);
  await until(() => l.received.length === 2);

  t.is((await ts.api('POST', '/api/v1/clients/pc03/wake')).status, 409, 'no MAC: refused');
  t.is((await ts.api('POST', '/api/v1/clients/nosuch/wake')).status, 404);
  t.is((await ts.api('POST', '/api/v1/groups/nosuch/wake')).status, 404);
  const bad = await ts.api('PUT', '/api/v1/groups/room101/wake-target', { broadcast: '10.1.101.256', port: 9 });
  t.is(bad.status, 400);
  // Addresses no packet reaches a sleeping PC through (were stored and "sent").
  for (const nowhere of ['0.0.0.0', '0.1.2.3', '224.0.0.1', '239.255.255.250', '240.0.0.1']) {
    const r = await ts.api('PUT', '/api/v1/groups/room101/wake-target', { broadcast: nowhere, port: 9 });
    t.is(r.status, 400, nowhere);
    t.is(r.body.message, `body.broadcast: ${nowhere} reaches no PC (unspecified, multicast or reserved): give the room's subnet-directed broadcast, e.g. 10.1.101.255`);
  }
  t.is((await ts.api('GET', '/api/v1/groups/room101/wake-target')).body.port, l.port, 'target unchanged after bad input');
  t.is((await ts.api('POST', '/api/v1/clients/pc01/wake', undefined, { authorization: 'Bearer ni_wrong' })).status, 401);
  await new Promise((r) => setTimeout(r, 100));
  t.is(l.received.length, 2, 'nothing sent by refused requests');

  t.is((await ts.api('DELETE', '/api/v1/groups/room101/wake-target')).status, 204);
  const fallback = (await ts.api('GET', '/api/v1/groups/room101/wake-target')).body;
  t.is(fallback.from, 'default');
  t.is(fallback.port, 9);
});

test('an advertisedIp on none of the interfaces gives no default target: a wake is refused naming the settings, nothing sent (was another interface\'s broadcast)', async (t) => {
  const ts = await startTestServer({ overrides: { advertisedIp: '203.0.113.9' } });
  t.teardown(() => ts.stop());
  await ts.api('POST', '/api/v1/groups', { id: 'room9' });
  await ts.api('POST', '/api/v1/clients', { id: 'pc09', mac: '52:54:00:77:00:09', group: 'room9' });
  const target = (await ts.api('GET', '/api/v1/groups/room9/wake-target')).body;
  t.is(target.broadcast, null);
  t.regex(target.problem, /^advertisedIp 203\.0\.113\.9 is on none of this server's interfaces \(.*\), so the PCs' network is not known: set wake\.broadcast/);
  const woken = await ts.api('POST', '/api/v1/clients/pc09/wake');
  t.is(woken.status, 409);
  t.regex(woken.body.message, /^no wake target for pc09: advertisedIp 203\.0\.113\.9 is on none of this server's interfaces/);
  t.deepEqual((await ts.api('GET', '/api/v1/wake')).body, [], 'nothing sent, nothing recorded');
});

test('CLI: netimage wake, group wake-target, and action set --wake', async (t) => {
  const ts = await startTestServer();
  t.teardown(() => ts.stop());
  const l = await listener(t);
  await room(ts, l.port);
  const cli = (...args: string[]) => exec(process.execPath, ['bootserver/cli/main.ts', ...args, '--url', ts.url, '--token', ts.adminToken]);
  t.regex((await cli('wake', 'pc01')).stdout, /sent a wake-on-lan packet to pc01 via 127\.0\.0\.1:\d+/);
  t.regex((await cli('wake', '--group', 'room101')).stdout, /woke 2 client\(s\) of room101; skipped pc03/);
  t.regex((await cli('client', 'list')).stdout, /pc01\s+52:54:00:77:00:01\s+-\s+room101\s+waiting/, 'client list shows the wake');
  t.regex((await cli('group', 'wake-target', 'room101')).stdout, new RegExp(`127\\.0\\.0\\.1:${l.port} \\(the group's own target\\)`));
  const action = await cli('action', 'set', 'pc02', 'hwinvent', '--wake');
  t.regex(action.stdout, /setup of hwinvent set for pc02/);
  t.regex(action.stdout, /sent a wake-on-lan packet to pc02/);
  await until(() => l.received.length === 4);
  t.deepEqual(l.received.map((b) => b.subarray(6, 12).toString('hex')), ['525400770001', '525400770001', '525400770002', '525400770002']);
});
