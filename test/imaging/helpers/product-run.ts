// Runs one imaging product against a loop device with an in-memory server that records and
// applies the product's server calls; state passes between runs in a JSON file.
//   product-run.ts <productId> <loop> <state.json> <uefi|bios>
// Run inside a private mount namespace (the products mount the backup partition).
import { readFile, writeFile } from 'node:fs/promises';
import type { AgentServerApi, NetbootProduct, ProductContext } from '../../../lib/netboot-product.ts';
import type { ActionRequest, ProductOnClientStateWire, PropertyValue } from '../../../lib/agent-protocol.ts';
import { makeBackupProduct } from '../../../imaging/products/backup.ts';
import { makeDelimageProduct } from '../../../imaging/products/delimage.ts';
import { makePrepareProduct } from '../../../imaging/products/prepare.ts';
import { makeRestoreProduct } from '../../../imaging/products/restore.ts';

export interface ServerState {
  properties: Record<string, Record<string, PropertyValue>>;
  productStates: ProductOnClientStateWire[];
  actionRequests: { productId: string; actionRequest: ActionRequest }[];
  calls: string[];
}

const [productId, loop, stateFile, firmware] = process.argv.slice(2);
const state = JSON.parse(await readFile(stateFile!, 'utf8')) as ServerState;
const overrides = { allowLoop: true, devices: [loop!] };
const products: Record<string, NetbootProduct> = Object.fromEntries(
  [makePrepareProduct(overrides), makeBackupProduct(overrides), makeRestoreProduct(overrides), makeDelimageProduct(overrides)].map((p) => [p.id, p]),
);
const server: AgentServerApi = {
  async setProperties(pid, values) {
    state.calls.push(`setProperties ${pid} ${JSON.stringify(values)}`);
    state.properties[pid] = { ...(state.properties[pid] ?? {}), ...values };
  },
  async setActionRequests(requests) {
    state.calls.push(`setActionRequests ${JSON.stringify(requests)}`);
    state.actionRequests.push(...requests);
  },
  async getProductStates() {
    state.calls.push('getProductStates');
    return state.productStates;
  },
  async putProductStates(states) {
    state.calls.push(`putProductStates ${states.length}`);
    state.productStates = states;
  },
  async putInventory() {
    state.calls.push('putInventory');
  },
};
const log: string[] = [];
const progress: number[] = [];
const ctx: ProductContext = {
  job: {
    jobId: 'job-1',
    attempt: 1,
    productId: productId!,
    productVersion: '1.0-1',
    actionRequest: 'setup',
    properties: state.properties[productId!] ?? {},
    client: { id: 'pc01.school.lan', mac: '52:54:00:12:34:56', uuid: null, group: null },
    afterJob: 'reboot',
    serverTime: new Date().toISOString(),
  },
  firmware: firmware === 'bios' ? 'bios' : 'uefi',
  bootMac: '52:54:00:12:34:56',
  log: (l) => log.push(l),
  progress: (p) => progress.push(p),
  server,
  signal: new AbortController().signal,
};
let error: string | null = null;
let errorName: string | null = null;
try {
  const product = products[productId!];
  if (!product) throw new Error(`no product ${productId}`);
  await product.run(ctx);
} catch (e) {
  error = (e as Error).message;
  errorName = (e as Error).name;
}
await writeFile(stateFile!, JSON.stringify(state));
process.stdout.write(`${JSON.stringify({ ok: error === null, error, errorName, log, progress })}\n`);
