// Run the DHCP server alone, for tests and benchmarks that need it inside a network namespace
// (`ip netns exec NS node bootserver/dhcp/standalone.ts config.json`): a Node process cannot
// switch namespaces itself. Logs JSON lines to stdout; prints nothing else.
// Optional config key `leaseDb`: a SQLite file for full-mode leases (schema applied here).
import { readFileSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { DatabaseSync } from 'node:sqlite';
import { z } from 'zod';
import { createLogger } from '../../lib/logger.ts';
import { dhcpConfigSchema } from './config.ts';
import { DHCP_LEASES_SCHEMA_SQL, SqliteLeaseStore } from './leases.ts';
import { startDhcpServer } from './server.ts';

const path = process.argv[2];
if (!path) {
  process.stderr.write('usage: standalone.ts <config.json>\n');
  process.exit(2);
}
const raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const leaseDb = z.string().optional().parse(raw['leaseDb']);
delete raw['leaseDb'];
const config = dhcpConfigSchema.parse(raw);
// stdout as a pipe is written synchronously on Linux: one syscall per log line, which under
// perfdhcp load costs about as much as answering. Lines logged in one event-loop turn are
// collected and written with one syscall when the turn ends.
let pending: Buffer[] = [];
const pause = new Int32Array(new SharedArrayBuffer(4));
/** Write all of `data` to fd 1, also if it is a non-blocking pipe that is momentarily full. */
const writeAll = (data: Buffer) => {
  for (let at = 0; at < data.length; ) {
    try {
      at += writeSync(1, data, at);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(pause, 0, 0, 5);
    }
  }
};
const flush = () => {
  const data = Buffer.concat(pending);
  pending = [];
  writeAll(data);
};
const stdout = new Writable({
  write: (chunk: Buffer, _encoding, cb) => {
    if (pending.length === 0) setImmediate(flush);
    pending.push(chunk);
    cb();
  },
  final: (cb) => {
    if (pending.length > 0) flush();
    cb();
  },
});
const logger = createLogger({ destination: stdout });
let db: DatabaseSync | undefined;
if (leaseDb) {
  db = new DatabaseSync(leaseDb);
  // WAL + NORMAL: a lease write is an append, not an fsync per ACK.
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
  db.exec(DHCP_LEASES_SCHEMA_SQL);
}
const server = await startDhcpServer(config, { logger, ...(db ? { leaseStore: new SqliteLeaseStore(db) } : {}) });
// Tests wait for this line before sending; written directly so it appears at any log level.
// (Not through process.stdout, which would switch fd 1 to non-blocking mode.)
writeAll(Buffer.from(`${JSON.stringify({ pid: process.pid, msg: 'standalone DHCP server ready' })}\n`));

let stopping = false;
const shutdown = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  await server.stop();
  db?.close();
  await new Promise<void>((resolve) => stdout.end(resolve));
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
