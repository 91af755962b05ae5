// service/client-images.ts: which image details the server keeps after an agent's report, and the
// client detail's view of them. Pure.
import test from 'ava';
import { clientImagesView, imagesAfterUpdate, reportMismatch } from '../../bootserver/service/client-images.ts';
import { agentPropertyUpdate } from '../../lib/agent-protocol.ts';

const T = '2026-12-01T07:00:00.000Z';
const win11 = { name: 'win11', sizeBytes: 6 * 2 ** 30, createdAt: T, sourcePartition: '/dev/sda3', fsType: 'ntfs', format: 'stream' as const };
const alt = { name: 'alt', sizeBytes: 10, createdAt: null, sourcePartition: null, fsType: 'ext4', format: 'chunked' as const };
const stored = [win11, alt].map((i) => ({ ...i, clientId: 'pc01', reported: T }));

test('the wire: an old agent\'s names-only update parses; a report with an invented or malformed date does not', (t) => {
  t.true(agentPropertyUpdate.safeParse({ productId: 'opsi-local-image-restore', values: { imagefile: 'win11', imagefiles_list: ['win11'] } }).success);
  t.true(agentPropertyUpdate.safeParse({ productId: 'opsi-local-image-restore', values: { imagefiles_list: ['win11', 'alt'] }, images: [win11, alt] }).success, 'an unknown date is null');
  t.false(agentPropertyUpdate.safeParse({ productId: 'x', values: {}, images: [{ ...win11, createdAt: 'unknown' }] }).success);
  t.false(agentPropertyUpdate.safeParse({ productId: 'x', values: {}, images: [{ ...win11, sizeBytes: -1 }] }).success);
  t.false(agentPropertyUpdate.safeParse({ productId: 'x', values: {}, images: [{ ...win11, format: 'zip' }] }).success);
});

test('a report must describe exactly the listed images, each once', (t) => {
  t.is(reportMismatch(['win11', 'alt'], [alt, win11]), null, 'in any order');
  t.is(reportMismatch(['win11', 'alt'], [win11]), 'images must describe exactly the images of imagefiles_list (not described: alt)');
  t.is(reportMismatch(['win11'], [win11, alt]), 'images must describe exactly the images of imagefiles_list (not listed: alt)');
  t.regex(reportMismatch(['win11'], [win11, win11]) ?? '', /twice/);
});

test('with a report its rows replace all; without one (an older agent) the known rows of listed images stay, nothing is made up', (t) => {
  t.deepEqual(imagesAfterUpdate('pc01', ['alt'], [alt], stored, '2026-12-02T00:00:00.000Z'), [{ ...alt, clientId: 'pc01', reported: '2026-12-02T00:00:00.000Z' }]);
  t.deepEqual(imagesAfterUpdate('pc01', ['alt', 'new'], undefined, stored, 'now'), [stored[1]], 'win11 is gone, new has no details');
  t.deepEqual(imagesAfterUpdate('pc01', [], undefined, stored, 'now'), []);
});

test('the view: imagefiles_list order, the selected image, unknown details as null', (t) => {
  const view = clientImagesView({ imagefile: 'alt', imagefiles_list: ['old', 'win11', 'alt'] }, stored);
  t.deepEqual(
    view.map((v) => [v.name, v.selected, v.sizeBytes, v.createdAt, v.format]),
    [
      ['old', false, null, null, null],
      ['win11', false, 6 * 2 ** 30, T, 'stream'],
      ['alt', true, 10, null, 'chunked'],
    ],
  );
  t.deepEqual(clientImagesView({}, stored), [], 'no list, no images (details alone are not shown)');
});
