// serverBaseUrl (bootserver/http/public-url.ts): which base URL goes into an installed PC.
import test from 'ava';
import { serverBaseUrl } from '../../bootserver/http/public-url.ts';

const known = ['127.0.0.1', '::1', '10.0.0.5', 'fe80::1'];
const req = (host: string, localAddress?: string, localPort?: number) => ({ protocol: 'http' as const, host, localAddress, localPort });

test('the configured public URL wins; a Host naming this server on its port is used; anything else falls back to an own address', (t) => {
  t.deepEqual(serverBaseUrl({ publicUrl: 'https://netimage.example/', advertisedIp: null }, req('evil.example'), 8080, known), { url: 'https://netimage.example', refusedHost: null });
  const cfg = { publicUrl: null, advertisedIp: '192.0.2.2' };
  t.deepEqual(serverBaseUrl(cfg, req('192.0.2.2:8080'), 8080, known), { url: 'http://192.0.2.2:8080', refusedHost: null }, 'advertisedIp');
  t.deepEqual(serverBaseUrl(cfg, req('10.0.0.5:8080', '10.0.0.5', 8080), 8080, known), { url: 'http://10.0.0.5:8080', refusedHost: null }, 'another interface of this server');
  t.deepEqual(serverBaseUrl(cfg, req('[::1]:8080'), 8080, known), { url: 'http://[::1]:8080', refusedHost: null }, 'IPv6');
  t.deepEqual(serverBaseUrl({ publicUrl: null, advertisedIp: null }, req('10.0.0.5', '10.0.0.5', 80), 8080, known), { url: 'http://10.0.0.5', refusedHost: null }, 'port 80 by default, the connection\'s port');
  for (const host of ['evil.example:8080', '198.51.100.7:8080', '192.0.2.2:9999', '192.0.2.2:8080@evil.example', '192.0.2.2:8080/x', '']) {
    t.deepEqual(serverBaseUrl(cfg, req(host), 8080, known), { url: 'http://192.0.2.2:8080', refusedHost: host || null }, host);
  }
  t.deepEqual(serverBaseUrl({ publicUrl: null, advertisedIp: null }, req('evil.example', '::ffff:10.0.0.5', 8080), 8080, known), { url: 'http://10.0.0.5:8080', refusedHost: 'evil.example' }, 'the arrival address without advertisedIp');
});
