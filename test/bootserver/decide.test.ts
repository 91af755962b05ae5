// bootserver/boot/decide.ts: client resolution and the boot decision (pure).
import test from 'ava';
import { decideBoot, localBootTarget, resolveClient } from '../../bootserver/boot/decide.ts';
import type { ActionRequest } from '../../lib/agent-protocol.ts';
import type { Client, ProductDefinition, ProductOnClient } from '../../bootserver/store/types.ts';

const MAC1 = '52:54:00:00:00:01';
const UUID1 = '8a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d';

const client = (id: string, mac: string | null, uuid: string | null): Client => ({ id, mac, uuid, group: null, description: '', notes: '', inventory: null, created: '', modified: '' });
const product = (id: string, priority: number): [string, ProductDefinition] => [id, { id, version: '1', name: id, description: '', priority, destructive: false, properties: [] }];
const poc = (productId: string, actionRequest: ActionRequest = 'setup'): ProductOnClient => ({
  clientId: 'c',
  productId,
  actionRequest,
  installationStatus: 'not_installed',
  actionResult: 'none',
  actionProgress: '',
  lastAction: 'none',
  productVersion: null,
  modified: '',
});
const products = new Map([product('a', 10), product('b', 90), product('c', 90)]);
const known = client('c', MAC1, null);

test('resolution follows the configured identifier order', (t) => {
  const byMac = client('by-mac', MAC1, null);
  const byUuid = client('by-uuid', null, UUID1);
  const req = { mac: MAC1, uuid: UUID1, firmware: 'uefi' as const };
  t.is(resolveClient(req, ['mac', 'uuid'], { byMac, byUuid })!.client.id, 'by-mac');
  t.is(resolveClient(req, ['uuid', 'mac'], { byMac, byUuid })!.client.id, 'by-uuid');
  t.is(resolveClient(req, ['uuid'], { byMac, byUuid: null }), null);
  t.is(resolveClient({ ...req, uuid: null }, ['uuid', 'mac'], { byMac, byUuid: null })!.matchedBy, 'mac');
  // a candidate found by an identifier the request did not carry does not count
  t.is(resolveClient({ ...req, mac: null }, ['mac'], { byMac, byUuid }), null);
});

test('the highest priority pending product wins; equal priorities go by product id', (t) => {
  t.like(decideBoot({ client: known, pending: [poc('a'), poc('b')], products, bootUnknownClients: false }), { kind: 'netboot', productId: 'b', actionRequest: 'setup' });
  t.like(decideBoot({ client: known, pending: [poc('c'), poc('b')], products, bootUnknownClients: false }), { kind: 'netboot', productId: 'b' });
  t.like(decideBoot({ client: known, pending: [poc('a', 'always')], products, bootUnknownClients: false }), { kind: 'netboot', productId: 'a', actionRequest: 'always', reason: 'pending always of a' });
});

test('nothing runnable boots the local disk: no request, request none, or a product not in the catalogue', (t) => {
  const local = { kind: 'local', reason: 'no pending netboot action' };
  t.like(decideBoot({ client: known, pending: [], products, bootUnknownClients: false }), local);
  t.like(decideBoot({ client: known, pending: [poc('b', 'none')], products, bootUnknownClients: false }), local);
  t.like(decideBoot({ client: known, pending: [poc('gone')], products, bootUnknownClients: false }), local);
});

test('an unknown PC boots locally, or gets only hwinvent when unknown clients are allowed', (t) => {
  t.like(decideBoot({ client: null, pending: [poc('b')], products, bootUnknownClients: false }), { kind: 'local', reason: 'unknown client' });
  t.like(decideBoot({ client: null, pending: [poc('b')], products, bootUnknownClients: true }), { kind: 'register', productId: 'hwinvent' });
});

test('a held product is passed over: the next one runs, or the PC boots locally with the reason', (t) => {
  const held = new Map([['b', 'the root filesystem rootfs/x is being built']]);
  t.like(decideBoot({ client: known, pending: [poc('a'), poc('b')], products, bootUnknownClients: false, held }), { kind: 'netboot', productId: 'a' });
  t.deepEqual(decideBoot({ client: known, pending: [poc('b')], products, bootUnknownClients: false, held }), {
    kind: 'local',
    reason: 'setup of b waits: the root filesystem rootfs/x is being built',
  });
  t.like(decideBoot({ client: known, pending: [poc('b')], products, bootUnknownClients: false, held: new Map() }), { kind: 'netboot', productId: 'b' });
});

test('local boot looks for an installed Linux first when an OS install put one on the disk (installed, or laid down and waiting)', (t) => {
  const installs = ['opsi-local-image-debian', 'opsi-local-image-ubuntu'];
  const installed = { ...poc('opsi-local-image-debian', 'none'), installationStatus: 'installed' as const };
  t.is(localBootTarget({ states: [installed], osInstallProducts: installs, laidDownWaiting: false }), 'installed-linux');
  t.is(localBootTarget({ states: [poc('opsi-local-image-debian', 'none')], osInstallProducts: installs, laidDownWaiting: true }), 'installed-linux');
  t.is(localBootTarget({ states: [poc('opsi-local-image-debian', 'none')], osInstallProducts: installs, laidDownWaiting: false }), 'any');
  t.is(localBootTarget({ states: [{ ...installed, productId: 'opsi-local-image-win10-x64' }], osInstallProducts: installs, laidDownWaiting: false }), 'any');
  t.is(localBootTarget({ states: [], osInstallProducts: installs, laidDownWaiting: false }), 'any');
});
