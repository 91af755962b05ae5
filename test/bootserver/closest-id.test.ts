// The "did you mean" of an unknown product id: a typo, or the short name the web UI shows.
import test from 'ava';
import { closestId } from '../../bootserver/products/closest-id.ts';

const IDS = ['hwinvent', 'opsi-local-image-backup', 'opsi-local-image-restore', 'opsi-local-image-win10-x64', 'opsi-local-image-win11-x64'];

test('a typo names the nearest id; the short name its one product; anything else nothing', (t) => {
  t.is(closestId('opsi-local-image-bakup', IDS), 'opsi-local-image-backup');
  t.is(closestId('OPSI-LOCAL-IMAGE-RESTORE', IDS), 'opsi-local-image-restore');
  t.is(closestId('hwinvnt', IDS), 'hwinvent');
  t.is(closestId('restore', IDS), 'opsi-local-image-restore');
  t.is(closestId('x64', IDS), null, 'two ids end in -x64: no guess');
  t.is(closestId('no-such-product', IDS), null);
  t.is(closestId('', IDS), null);
});
