import test from 'ava';
import { parseCmdline, tokenizeCmdline } from '../../bootimage/agent/cmdline.ts';

const base = 'BOOT_IMAGE=/netimage/kernel console=ttyS0,115200 quiet netimage.server=http://10.0.2.100:8080/ netimage.job=3f0e5a1c-2b4d-4e6f-8a9b-0c1d2e3f4a5b netimage.token=0123456789abcdef0123456789abcdef';

test('parses the netimage keys and normalises server URL and MAC', (t) => {
  const c = parseCmdline(`${base} netimage.mac=52-54-00-AB-CD-EF\n`);
  t.is(c.server, 'http://10.0.2.100:8080');
  t.is(c.job, '3f0e5a1c-2b4d-4e6f-8a9b-0c1d2e3f4a5b');
  t.is(c.token, '0123456789abcdef0123456789abcdef');
  t.is(c.mac, '52:54:00:ab:cd:ef');
  t.false(c.debug);
  t.is(c.rebootDelay, 30);
});

test('debug flag, reboot delay and a missing MAC', (t) => {
  const c = parseCmdline(`${base} netimage.debug=1 netimage.reboot_delay=5`);
  t.true(c.debug);
  t.is(c.rebootDelay, 5);
  t.is(c.mac, null);
});

test('missing keys are named', (t) => {
  const e = t.throws(() => parseCmdline('console=ttyS0 netimage.server=http://1.2.3.4:80'));
  t.regex(e.message, /netimage\.job/);
  t.regex(e.message, /netimage\.token/);
});

test('bad values are rejected with the key', (t) => {
  t.throws(() => parseCmdline(base.replace('http://10.0.2.100:8080/', 'ftp://x')), { message: /server/ });
  t.throws(() => parseCmdline(base.replace(/token=\S+/, 'token=not-hex!')), { message: /token/ });
  t.throws(() => parseCmdline(`${base} netimage.mac=52:54:00:zz:00:00`), { message: /mac/ });
});

test('tokenizer keeps quoted values and bare flags', (t) => {
  const kv = tokenizeCmdline('a=1 "b=two words" quiet c=x=y');
  t.is(kv.get('a'), '1');
  t.is(kv.get('b'), 'two words');
  t.is(kv.get('quiet'), '');
  t.is(kv.get('c'), 'x=y');
});
