// NetbootService error paths on store fakes: refusals write nothing, store failures surface.
import test from 'ava';
import { join } from 'node:path';
import { loadConfig } from '../../bootserver/config/load.ts';
import { loadCatalogue } from '../../bootserver/products/catalogue.ts';
import { JobEventBus } from '../../bootserver/service/event-bus.ts';
import { ConflictError, NetbootService } from '../../bootserver/service/netboot.ts';
import { StoreNotFoundError, type Client, type Store } from '../../bootserver/store/types.ts';
import { silentLogger } from '../../lib/logger.ts';
import { repoRoot } from '../../lib/paths.ts';
import { bootImageProductIds, ProductId, productFacts } from '../../lib/products.ts';
import { brokenStore, emptyStore, fixedStore } from '../helpers/store-fakes.ts';

const products = loadCatalogue(join(repoRoot, 'products'));
const client = (id: string, group: string | null = null): Client => ({ id, mac: null, uuid: null, group, description: '', notes: '', inventory: null, created: '', modified: '' });

function service(store: Store, overrides: Record<string, unknown> = {}): NetbootService {
  const config = loadConfig({ env: {}, file: null, overrides: { dataDir: '/nonexistent', ...overrides } });
  return new NetbootService({ store, config, bus: new JobEventBus(), log: silentLogger, serverSecret: '00'.repeat(32) });
}

test('a product the boot image cannot run is refused with 409 for one client and for a group, and nothing is written', async (t) => {
  const store = fixedStore({ clients: [client('pc01', 'room'), client('pc02', 'room')], groups: [{ id: 'room', description: '' }], products });
  const svc = service(store);
  // Every catalogue product runs in the boot image now: pretend Ubuntu does not (this file only).
  const facts = productFacts(ProductId.ubuntu) as { inBootImage: boolean };
  facts.inBootImage = false;
  try {
    const single = await t.throwsAsync(svc.setActionRequest('pc01', ProductId.ubuntu, 'setup'), { instanceOf: ConflictError });
    t.is(single.message, `setup of ${ProductId.ubuntu} refused: the boot image has no implementation of ${ProductId.ubuntu} (it runs ${bootImageProductIds().join(', ')})`);
    await t.throwsAsync(svc.setGroupActionRequest('room', ProductId.ubuntu, 'setup'), { instanceOf: ConflictError, message: /boot image has no implementation of opsi-local-image-ubuntu/ });
  } finally {
    facts.inBootImage = true;
  }
  t.deepEqual(store.writes, []);
});

test('clearing a request of such a product still works (an old request can always be taken back)', async (t) => {
  const store = fixedStore({ clients: [client('pc01')], products });
  await service(store).setActionRequest('pc01', ProductId.win11, 'none');
  t.true(store.writes.includes('putProductOnClient'));
});

test('unknown client, product or group: not found, nothing written', async (t) => {
  const store = fixedStore({ clients: [client('pc01')], products });
  const svc = service(store);
  await t.throwsAsync(svc.setActionRequest('nobody', ProductId.hwinvent, 'setup'), { instanceOf: StoreNotFoundError, message: 'client nobody not found' });
  await t.throwsAsync(svc.setActionRequest('pc01', 'no-such-product', 'setup'), { instanceOf: StoreNotFoundError, message: 'product no-such-product not found' });
  await t.throwsAsync(svc.setGroupActionRequest('nogroup', ProductId.hwinvent, 'setup'), { instanceOf: StoreNotFoundError });
  t.deepEqual(store.writes, []);
});

test('an empty store: an unknown PC boots locally and nothing is written', async (t) => {
  const store = emptyStore();
  const outcome = await service(store).bootConfigRead({ mac: '52:54:00:00:00:01', uuid: null, firmware: 'uefi' });
  t.like(outcome, { decision: { kind: 'local', reason: 'unknown client' }, job: null, token: null });
  t.deepEqual(store.writes, []);
});

test('a failing store surfaces its error to the caller instead of a decision', async (t) => {
  const svc = service(brokenStore(new Error('database is locked')));
  await t.throwsAsync(svc.bootConfigRead({ mac: '52:54:00:00:00:01', uuid: null, firmware: 'bios' }), { message: 'database is locked' });
  await t.throwsAsync(svc.setActionRequest('pc01', ProductId.hwinvent, 'setup'), { message: 'database is locked' });
});

test('group restore without an image common to all clients, or a group without clients: 409, nothing written', async (t) => {
  const store = fixedStore({
    clients: [client('pc01', 'room'), client('pc02', 'room')],
    groups: [{ id: 'room', description: '' }, { id: 'empty', description: '' }],
    products,
    propertyValues: { [`pc01/${ProductId.restore}`]: { imagefiles_list: ['win10'] }, [`pc02/${ProductId.restore}`]: { imagefiles_list: ['win11'] } },
  });
  const svc = service(store);
  await t.throwsAsync(svc.setGroupActionRequest('room', ProductId.restore, 'setup'), { instanceOf: ConflictError });
  await t.throwsAsync(svc.setGroupActionRequest('room', ProductId.restore, 'setup', { imagefile: 'win10' }), { instanceOf: ConflictError, message: /missing on: pc02/ });
  await t.throwsAsync(svc.setGroupActionRequest('empty', ProductId.hwinvent, 'setup'), { instanceOf: ConflictError, message: 'group empty has no clients' });
  t.deepEqual(store.writes, []);
});
