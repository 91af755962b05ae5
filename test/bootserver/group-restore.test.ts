import test from 'ava';
import { chooseGroupImage, intersectImageLists } from '../../bootserver/actions/group-restore.ts';

test('intersection of image lists', (t) => {
  t.deepEqual(intersectImageLists([['win10', 'win11', 'ubuntu'], ['win11', 'win10'], ['win10', 'win11', 'x']]), ['win10', 'win11']);
  t.deepEqual(intersectImageLists([['a'], ['b']]), []);
  t.deepEqual(intersectImageLists([]), []);
});

const c = (clientId: string, imagefilesList: string[], imagefile = '') => ({ clientId, imagefilesList, imagefile });

test('a requested image must be on every client; the refusal names who lacks it', (t) => {
  t.like(chooseGroupImage([c('a', ['w10', 'w11']), c('b', ['w10'])], 'w10'), { ok: true, imagefile: 'w10' });
  const r = chooseGroupImage([c('a', ['w10', 'w11']), c('b', ['w10'])], 'w11');
  t.false(r.ok);
  if (!r.ok) t.regex(r.reason, /missing on: b/);
});

test('without a request: the shared current image, or the only common one, else a choice is asked for', (t) => {
  t.like(chooseGroupImage([c('a', ['w10', 'w11'], 'w11'), c('b', ['w10', 'w11'], 'w11')], null), { ok: true, imagefile: 'w11' });
  t.like(chooseGroupImage([c('a', ['w10', 'w11'], 'w11'), c('b', ['w10'], 'w10')], null), { ok: true, imagefile: 'w10' });
  const many = chooseGroupImage([c('a', ['w10', 'w11'], 'w10'), c('b', ['w10', 'w11'], 'w11')], null);
  t.false(many.ok);
  if (!many.ok) t.regex(many.reason, /choose one of w10, w11/);
  t.false(chooseGroupImage([c('a', ['w10']), c('b', ['w11'])], null).ok);
  t.false(chooseGroupImage([], null).ok);
});
