// Store latency per backend: SQLite (a file) and PostgreSQL (a throwaway local cluster over its unix
// socket, test/helpers/pg-cluster.ts), per operation, median of --rounds. The config read is the
// hot path: a PC asking for its boot config runs one store transaction (here the re-serve case).
// Then under load: --pcs simulated PCs at once (a district's morning) read their boot config
// (which creates their jobs) and make agent calls (progress, through the agent session as the HTTP
// route does), all in flight together; p50 and p99 of each, with the load average.
//
//   node bench/store.ts [--rounds 2000] [--pcs 500]
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { SqliteStore } from '../bootserver/store/sqlite.ts';
import { PostgresStore } from '../bootserver/store/postgres.ts';
import type { SqlStore } from '../bootserver/store/sql-store.ts';
import { loadConfig } from '../bootserver/config/load.ts';
import { loadCatalogue } from '../bootserver/products/catalogue.ts';
import { JobEventBus } from '../bootserver/service/event-bus.ts';
import { NetbootService } from '../bootserver/service/netboot.ts';
import { silentLogger } from '../lib/logger.ts';
import { repoRoot } from '../lib/paths.ts';
import { ProductId } from '../lib/products.ts';
import { AgentSession } from '../bootserver/service/agent-session.ts';
import { loadavg } from 'node:os';
import { startPgCluster } from '../test/helpers/pg-cluster.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '2000' }, pcs: { type: 'string', default: '500' } } });
const rounds = Number(values.rounds);
const pcs = Number(values.pcs);

/** Run fn for every PC at once; the latency of each call in ms. */
async function allAtOnce(fn: (i: number) => Promise<unknown>): Promise<number[]> {
  return Promise.all(
    Array.from({ length: pcs }, async (_, i) => {
      const t = performance.now();
      await fn(i);
      return performance.now() - t;
    }),
  );
}

const pct = (times: number[], p: number) => [...times].sort((a, b) => a - b)[Math.min(times.length - 1, Math.floor(times.length * p))]!;
const fmt = (times: number[]) => `p50 ${pct(times, 0.5).toFixed(1).padStart(6)} ms  p99 ${pct(times, 0.99).toFixed(1).padStart(6)} ms`;

async function underLoad(name: string, s: SqlStore): Promise<void> {
  const mac = (i: number) => `52:54:01:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  const config = loadConfig({ env: {}, file: null, overrides: { dataDir: '/nonexistent' } });
  const svc = new NetbootService({ store: s, config, bus: new JobEventBus(), log: silentLogger, serverSecret: '22'.repeat(32) });
  const agent = new AgentSession(svc);
  for (let i = 0; i < pcs; i++) {
    await s.createClient({ id: `load${i}`, mac: mac(i) });
    await svc.setActionRequest(`load${i}`, ProductId.hwinvent, 'setup');
  }
  const tokens: string[] = [];
  const reads = await allAtOnce(async (i) => {
    const outcome = await svc.bootConfigRead({ mac: mac(i), uuid: null, firmware: 'uefi' });
    tokens[i] = outcome.token!;
  });
  const calls = [...(await allAtOnce((i) => agent.progress(tokens[i]!, { percent: 10, message: 'one' }))), ...(await allAtOnce((i) => agent.progress(tokens[i]!, { percent: 20, message: 'two' })))];
  console.log(`${name.padEnd(10)} ${pcs} PCs at once: boot config read ${fmt(reads)}   agent call ${fmt(calls)}   load average ${loadavg()[0]!.toFixed(2)}`);
}

async function median(fn: (i: number) => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    await fn(i);
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]! * 1000;
}

async function measure(name: string, s: SqlStore): Promise<void> {
  const mac = (i: number) => `52:54:00:${(i >> 16) & 255}:${(i >> 8) & 255}:${i & 255}`.replace(/:(\d+)/g, (_, n: string) => ':' + Number(n).toString(16).padStart(2, '0'));
  for (const p of loadCatalogue(join(repoRoot, 'products'))) await s.upsertProduct(p);
  const create = await median((i) => s.createClient({ id: `pc${i}`, mac: mac(i) }));
  const get = await median((i) => s.getClient(`pc${i}`));
  const config = loadConfig({ env: {}, file: null, overrides: { dataDir: '/nonexistent' } });
  const svc = new NetbootService({ store: s, config, bus: new JobEventBus(), log: silentLogger, serverSecret: '11'.repeat(32) });
  await svc.setActionRequest('pc0', ProductId.hwinvent, 'setup');
  const read = await median(() => svc.bootConfigRead({ mac: mac(0), uuid: null, firmware: 'uefi' }));
  console.log(`${name.padEnd(10)} createClient ${create.toFixed(0).padStart(5)} µs   getClient ${get.toFixed(0).padStart(5)} µs   boot config read ${read.toFixed(0).padStart(5)} µs`);
}

const dir = await mkdtemp(join(tmpdir(), 'netimage-bench-store-'));
const sqlite = SqliteStore.open({ path: join(dir, 'db.sqlite') });
console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
await measure('sqlite', sqlite);
await underLoad('sqlite', sqlite);
await sqlite.close();
await rm(dir, { recursive: true, force: true });

const cluster = await startPgCluster();
try {
  const postgres = await PostgresStore.open({ url: await cluster.migratedDatabase() });
  await measure('postgres', postgres);
  await underLoad('postgres', postgres);
  await postgres.close();
} finally {
  await cluster.stop();
}
