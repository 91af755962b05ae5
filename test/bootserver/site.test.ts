// The site name (config site.name, docs/multi-server.md): validated when given, made from the host
// name when not.
import test from 'ava';
import { loadConfig } from '../../bootserver/config/load.ts';
import { siteName } from '../../bootserver/config/site.ts';

const config = (name: string | null) => ({ site: { name } });

test('a configured site name is used as it is', (t) => {
  t.is(siteName(config('branch-b'), 'ignored.example.org'), 'branch-b');
});

test('without one, the host name becomes the site name: first label, lower case, other characters as hyphens', (t) => {
  t.is(siteName(config(null), 'School-North.district.example'), 'school-north');
  t.is(siteName(config(null), 'boot_server 2'), 'boot-server-2');
  t.is(siteName(config(null), '--'), 'site', 'nothing usable left');
  t.is(siteName(config(null), 'a'.repeat(70)), 'a'.repeat(63));
});

test('a site name that is not one is refused, naming the key', (t) => {
  for (const bad of ['Branch', 'b_1', '-b', 'b-', '', 'x'.repeat(64)]) {
    const error = t.throws(() => loadConfig({ env: {}, file: null, overrides: { 'site.name': bad } }), undefined, bad);
    t.regex(error!.message, /site\.name/, bad);
  }
  t.is(loadConfig({ env: { NETIMAGE_SITE_NAME: 'north-2' }, file: null }).site.name, 'north-2');
});
