// PC names in one line (lib/name-list.ts), as the CLI and the web UI print them.
import test from 'ava';
import { nameList } from '../../lib/name-list.ts';

test('a classroom is named in full; a bigger set by its first 20 and how many more', (t) => {
  const pcs = (n: number) => Array.from({ length: n }, (_, i) => `pc${String(i + 1).padStart(3, '0')}`);
  t.is(nameList([]), '');
  t.is(nameList(pcs(3)), 'pc001, pc002, pc003');
  t.is(nameList(pcs(20)).split(', ').length, 20);
  t.is(nameList(pcs(500)), `${pcs(20).join(', ')} and 480 more`);
  t.is(nameList(pcs(5), 2), 'pc001, pc002 and 3 more');
});
