// Store fakes for error paths (as matchbox's testfakes): a fixed store answers reads from given
// data and records writes instead of doing them (so a test can say "nothing was written"); the
// empty store is a fixed store with no data; the broken store fails every call. Only for logic
// above the Store interface: the real SQLite store has its own tests.
import type { PropertyValue } from '../../lib/agent-protocol.ts';
import { ACTIVE_STATES, isPendingRequest } from '../../bootserver/jobs/lifecycle.ts';
import type { Client, Group, Job, ProductDefinition, ProductOnClient, Store } from '../../bootserver/store/types.ts';

export interface FixedData {
  clients?: Client[];
  groups?: Group[];
  products?: ProductDefinition[];
  productOnClients?: ProductOnClient[];
  /** `${clientId}/${productId}` → values */
  propertyValues?: Record<string, Record<string, PropertyValue>>;
  jobs?: Job[];
}

export interface FixedStore extends Store {
  /** Write calls in order, by method name; the fixed data never changes. */
  readonly writes: string[];
}

type Reads = Partial<Record<keyof Store, (...args: never[]) => Promise<unknown>>>;

export function fixedStore(data: FixedData = {}): FixedStore {
  const clients = data.clients ?? [];
  const pocs = data.productOnClients ?? [];
  const jobs = data.jobs ?? [];
  const writes: string[] = [];
  const reads: Reads = {
    getMeta: async () => null,
    getOsInstall: async () => null,
    findOsInstallByTokenHash: async () => null,
    listOsInstalls: async () => [],
    getGroup: async (id: string) => data.groups?.find((g) => g.id === id) ?? null,
    listGroups: async () => data.groups ?? [],
    getClient: async (id: string) => clients.find((c) => c.id === id) ?? null,
    findClientByMac: async (mac: string) => clients.find((c) => c.mac === mac) ?? null,
    findClientByUuid: async (uuid: string) => clients.find((c) => c.uuid === uuid) ?? null,
    listClients: async (filter?: { group?: string }) => clients.filter((c) => !filter?.group || c.group === filter.group),
    getProduct: async (id: string) => data.products?.find((p) => p.id === id) ?? null,
    listProducts: async () => data.products ?? [],
    getProductOnClient: async (clientId: string, productId: string) => pocs.find((p) => p.clientId === clientId && p.productId === productId) ?? null,
    listProductOnClients: async (f: { clientId?: string; productId?: string; pendingOnly?: boolean }) =>
      pocs.filter((p) => (!f.clientId || p.clientId === f.clientId) && (!f.productId || p.productId === f.productId) && (!f.pendingOnly || isPendingRequest(p.actionRequest))),
    listForeignProductStates: async () => [],
    getForeignProductState: async () => null,
    getPropertyValues: async (clientId: string, productId: string) => data.propertyValues?.[`${clientId}/${productId}`] ?? {},
    getJob: async (id: string) => jobs.find((j) => j.id === id) ?? null,
    findJobByTokenHash: async (hash: string) => jobs.find((j) => j.tokenHash === hash) ?? null,
    findActiveJob: async (clientId: string) => jobs.find((j) => j.clientId === clientId && ACTIVE_STATES.includes(j.state)) ?? null,
    listJobs: async () => jobs,
    listJobEvents: async () => [],
    getJobLog: async () => null,
    hasAdminTokenHash: async () => false,
    countAdminTokens: async () => 0,
  };
  const store: FixedStore = new Proxy({ writes } as unknown as FixedStore, {
    get(target, name) {
      if (name === 'writes') return writes;
      if (name === 'transaction') return (fn: (tx: Store) => Promise<unknown>) => fn(store);
      if (name === 'close') return async () => undefined;
      if (name === 'then') return undefined; // not a thenable
      const read = reads[name as keyof Store];
      if (read) return read;
      return async () => {
        writes.push(String(name));
      };
    },
  });
  return store;
}

export function emptyStore(): FixedStore {
  return fixedStore({});
}

/** Every call rejects with `error`, a transaction too (a disk full, a locked database file). */
export function brokenStore(error: Error = new Error('store unavailable')): Store {
  return new Proxy({} as Store, {
    get(_target, name) {
      if (name === 'then') return undefined;
      return async () => {
        throw error;
      };
    },
  });
}
