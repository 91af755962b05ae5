import test from 'ava';
import { normaliseRequestPath } from '../../bootserver/tftp/paths.ts';

const ok = (raw: string) => {
  const r = normaliseRequestPath(raw);
  return r.ok ? r.path : null;
};

test('ordinary names, leading slash, backslashes, doubled and dot segments', (t) => {
  t.is(ok('shimx64.efi'), 'shimx64.efi');
  t.is(ok('/grub/grub.cfg'), 'grub/grub.cfg');
  t.is(ok('//grub//x86_64-efi/./http.mod'), 'grub/x86_64-efi/http.mod');
  t.is(ok('\\Boot\\x64\\wdsnbp.com'), 'Boot/x64/wdsnbp.com');
  t.is(ok('grub/grub.cfg-01-52-54-00-12-34-56'), 'grub/grub.cfg-01-52-54-00-12-34-56');
  t.is(ok('a%20b'), 'a%20b', 'names are served literally');
  t.is(ok('..foo/bar..'), '..foo/bar..', 'dots inside a name are not a parent segment');
});

test('traversal and tricks are refused', (t) => {
  const refused = [
    '../etc/passwd',
    '/../etc/passwd',
    'grub/../../etc/passwd',
    'a/../b',
    '..',
    '..\\etc\\passwd',
    '\\..\\etc\\passwd',
    'grub\\..\\..\\x',
    '.. /x',
    '.../x',
    '%2e%2e/etc/passwd',
    '%2E%2E%2Fetc%2Fpasswd',
    '..%2fetc',
    '%2e%2e%5cetc',
    'a%00b',
    '%c0%ae%c0%ae/etc/passwd',
    'a\0b',
    'a\nb',
    'a\x7fb',
    'caf\xe9',
    '/',
    '',
    '.',
    './/',
    'x'.repeat(256),
  ];
  for (const raw of refused) {
    const r = normaliseRequestPath(raw);
    t.false(r.ok, JSON.stringify(raw));
  }
  t.true(normaliseRequestPath('x'.repeat(255)).ok);
});

test('refusals carry a reason', (t) => {
  const r = normaliseRequestPath('../x');
  t.false(r.ok);
  if (!r.ok) t.regex(r.reason, /parent/);
});
