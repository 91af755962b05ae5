// The agent scope rule (bootserver/service/agent-scope.ts) as a table: what each product's job may
// set and queue. The HTTP side is in agent-security.test.ts.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AGENT_SCOPES, mayPutInventory, mayPutProductStates, mayQueue, mayQueueForeign, mayWriteProperties, scopeOf } from '../../bootserver/service/agent-scope.ts';

const PREPARE = 'opsi-local-image-prepare';
const BACKUP = 'opsi-local-image-backup';
const RESTORE = 'opsi-local-image-restore';
const DELIMAGE = 'opsi-local-image-delimage';
const WIM_CAPTURE = 'opsi-local-image-wim-capture';
const WIM_INFO = 'opsi-wim-info';
const WIN11 = 'opsi-local-image-win11-x64';

const writes: [job: string, target: string, names: string[], ok: boolean][] = [
  [PREPARE, RESTORE, ['imagefile', 'imagefiles_list'], true],
  [BACKUP, RESTORE, ['imagefile', 'imagefiles_list'], true],
  [BACKUP, BACKUP, ['free_on_backup'], true],
  [DELIMAGE, RESTORE, ['imagefile', 'imagefiles_list'], true],
  [DELIMAGE, BACKUP, ['free_on_backup'], true],
  [PREPARE, BACKUP, ['free_on_backup'], false],
  [PREPARE, PREPARE, ['start_os_installation'], false],
  [BACKUP, BACKUP, ['setup_after_install'], false],
  [BACKUP, RESTORE, ['imagefile', 'setup_after_restore'], false],
  // server_image: a restore fetches a golden image onto the backup partition and reports the image list.
  [RESTORE, RESTORE, ['imagefile', 'imagefiles_list'], true],
  [RESTORE, BACKUP, ['free_on_backup'], false],
  [RESTORE, RESTORE, ['setup_after_restore'], false],
  ['hwinvent', RESTORE, ['imagefile'], false],
  ['opsi-local-image-ubuntu', RESTORE, ['imagefile'], false],
  [WIM_CAPTURE, WIN11, ['imagename'], true],
  [WIM_CAPTURE, 'opsi-local-image-win10-x64', ['imagename'], true],
  [WIM_CAPTURE, RESTORE, ['imagefile', 'imagefiles_list'], true],
  [WIM_CAPTURE, WIN11, ['productkey'], false],
  [WIM_CAPTURE, 'opsi-local-image-ubuntu', ['imagename'], false],
  [WIM_CAPTURE, WIM_CAPTURE, ['setup_after_capture'], false],
  [WIM_INFO, WIN11, ['imagename'], false],
];
for (const [job, target, names, ok] of writes) {
  test(`${job} ${ok ? 'may' : 'may not'} set ${target}.${names.join('+')}`, (t) => {
    t.is(mayWriteProperties(job, target, names).ok, ok);
  });
}

test('a refusal names the properties refused and what is allowed', (t) => {
  const r = mayWriteProperties(BACKUP, BACKUP, ['free_on_backup', 'setup_after_install']);
  t.deepEqual(r, { ok: false, reason: `a ${BACKUP} job may not set ${BACKUP}.setup_after_install (only ${BACKUP}.free_on_backup)` });
});

test('no product may write a property that names what any product may queue (the admin values stay the admin\'s)', (t) => {
  const queueing = Object.entries(AGENT_SCOPES).flatMap(([id, s]) => s.queueFrom.map((p) => `${id}.${p}`));
  const written = Object.values(AGENT_SCOPES).flatMap((s) => Object.entries(s.writes).flatMap(([target, names]) => names.map((n) => `${target}.${n}`)));
  t.deepEqual(queueing.filter((q) => written.includes(q)), []);
});

test('every property in the table exists in the product catalogue', async (t) => {
  const names = async (id: string) => (JSON.parse(await readFile(join(import.meta.dirname, '../../products', `${id}.json`), 'utf8')) as { properties: { name: string }[] }).properties.map((p) => p.name);
  for (const [id, scope] of Object.entries(AGENT_SCOPES)) {
    for (const p of scope.queueFrom) t.true((await names(id)).includes(p), `${id}.${p}`);
    for (const [target, list] of Object.entries(scope.writes)) for (const n of list) t.true((await names(target)).includes(n), `${target}.${n}`);
  }
});

const queues: [job: string, admin: Record<string, string | string[] | boolean>, productId: string, request: 'setup' | 'uninstall', ok: boolean][] = [
  [PREPARE, { start_os_installation: 'opsi-local-image-win10-x64' }, 'opsi-local-image-win10-x64', 'setup', true],
  [PREPARE, { start_os_installation: 'opsi-local-image-win10-x64' }, RESTORE, 'setup', false],
  [PREPARE, { start_os_installation: '' }, 'opsi-local-image-win10-x64', 'setup', false],
  [PREPARE, { start_os_installation: 'opsi-local-image-win10-x64' }, 'opsi-local-image-win10-x64', 'uninstall', false],
  [BACKUP, { setup_after_install: ['hwinvent', 'opsi-local-image-ubuntu'] }, 'opsi-local-image-ubuntu', 'setup', true],
  [BACKUP, { setup_after_install: 'hwinvent, opsi-local-image-ubuntu' }, 'hwinvent', 'setup', true],
  [BACKUP, { setup_after_install: [] }, 'hwinvent', 'setup', false],
  [RESTORE, { setup_after_restore: ['windomain'] }, 'windomain', 'setup', true],
  [RESTORE, { setup_after_restore: ['windomain'] }, PREPARE, 'setup', false],
  [RESTORE, { setup_after_restore: [RESTORE] }, RESTORE, 'setup', false],
  [DELIMAGE, { setup_after_install: [PREPARE] }, PREPARE, 'setup', false],
  ['hwinvent', { start_os_installation: PREPARE }, PREPARE, 'setup', false],
  // A property of another product does not count: only the job's own queueing property.
  [BACKUP, { start_os_installation: PREPARE }, PREPARE, 'setup', false],
  [WIM_CAPTURE, { setup_after_capture: ['hwinvent'] }, 'hwinvent', 'setup', true],
  [WIM_CAPTURE, { setup_after_capture: [] }, 'hwinvent', 'setup', false],
  [WIM_INFO, { setup_after_capture: ['hwinvent'] }, 'hwinvent', 'setup', false],
];
for (const [job, admin, productId, request, ok] of queues) {
  test(`${job} with ${JSON.stringify(admin)} ${ok ? 'may' : 'may not'} queue ${request} of ${productId}`, (t) => {
    t.is(mayQueue(job, admin, [{ productId, actionRequest: request }]).ok, ok);
  });
}

test('one refused request refuses the whole list, with the reason', (t) => {
  const r = mayQueue(PREPARE, { start_os_installation: 'opsi-local-image-ubuntu' }, [
    { productId: 'opsi-local-image-ubuntu', actionRequest: 'setup' },
    { productId: DELIMAGE, actionRequest: 'setup' },
  ]);
  t.deepEqual(r, { ok: false, reason: `a ${PREPARE} job may not queue ${DELIMAGE}: its start_os_installation property names opsi-local-image-ubuntu` });
});

test('product states only from restore, inventory only from hwinvent; unknown products may nothing', (t) => {
  t.true(mayPutProductStates(RESTORE).ok);
  for (const p of [PREPARE, BACKUP, DELIMAGE, 'hwinvent']) t.false(mayPutProductStates(p).ok, p);
  t.true(mayPutInventory('hwinvent').ok);
  for (const p of [PREPARE, BACKUP, RESTORE, DELIMAGE]) t.false(mayPutInventory(p).ok, p);
  t.deepEqual(scopeOf('no-such-product'), { writes: {}, queueFrom: [], putsProductStates: false, queuesForeign: false, putsInventory: false });
});

test('only restore records setup of products outside the catalogue (for an agent in the OS)', (t) => {
  t.true(mayQueueForeign(RESTORE, 'windomain').ok);
  for (const p of [PREPARE, BACKUP, DELIMAGE, 'hwinvent', 'no-such-product']) t.false(mayQueueForeign(p, 'windomain').ok, p);
  t.deepEqual(mayQueueForeign(BACKUP, 'windomain'), { ok: false, reason: `a ${BACKUP} job may not queue windomain: it is not a netimage product (only a restore records setup of products netimage does not run)` });
});
