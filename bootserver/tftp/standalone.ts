// The TFTP server alone, serving a directory: for tests and benchmarks that need it in another
// process (e.g. inside a network namespace via `ip netns exec`). Runs until SIGTERM/SIGINT.
//
//   node bootserver/tftp/standalone.ts --root DIR [--host 127.0.0.1] [--port 0] [--max-blksize N]
//        [--max-windowsize N] [--max-window-bytes N] [--timeout-ms N] [--retries N] [--max-concurrent N]
//   node bootserver/tftp/standalone.ts config.json      (same keys, camelCase)
//
// Prints one JSON log line with msg "tftp listening" and the bound port once ready.

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { createLogger } from '../../lib/logger.ts';
import { diskFileSource } from './files.ts';
import { startTftpServer } from './server.ts';

const StandaloneConfig = z.object({
  root: z.string().min(1),
  host: z.string().default('127.0.0.1'),
  port: z.coerce.number().int().min(0).max(65535).default(0),
  maxBlksize: z.coerce.number().int().min(8).max(65464).optional(),
  maxWindowsize: z.coerce.number().int().min(1).max(65535).optional(),
  maxWindowBytes: z.coerce.number().int().min(1).optional(),
  timeoutMs: z.coerce.number().int().min(10).optional(),
  retries: z.coerce.number().int().min(0).optional(),
  maxConcurrent: z.coerce.number().int().min(1).optional(),
});

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      root: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'max-blksize': { type: 'string' },
      'max-windowsize': { type: 'string' },
      'max-window-bytes': { type: 'string' },
      'timeout-ms': { type: 'string' },
      retries: { type: 'string' },
      'max-concurrent': { type: 'string' },
    },
  });
  const raw =
    positionals[0] !== undefined
      ? (JSON.parse(await readFile(positionals[0], 'utf8')) as unknown)
      : {
          root: values.root,
          host: values.host,
          port: values.port,
          maxBlksize: values['max-blksize'],
          maxWindowsize: values['max-windowsize'],
          maxWindowBytes: values['max-window-bytes'],
          timeoutMs: values['timeout-ms'],
          retries: values.retries,
          maxConcurrent: values['max-concurrent'],
        };
  const config = StandaloneConfig.parse(raw);
  const log = createLogger().child({ component: 'tftp' });
  const server = await startTftpServer({
    host: config.host,
    port: config.port,
    source: diskFileSource(config.root),
    log,
    ...(config.maxBlksize === undefined ? {} : { maxBlksize: config.maxBlksize }),
    ...(config.maxWindowsize === undefined ? {} : { maxWindowsize: config.maxWindowsize }),
    ...(config.maxWindowBytes === undefined ? {} : { maxWindowBytes: config.maxWindowBytes }),
    ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
    ...(config.retries === undefined ? {} : { retries: config.retries }),
    ...(config.maxConcurrent === undefined ? {} : { maxConcurrent: config.maxConcurrent }),
  });
  log.info({ port: server.port, host: config.host, root: config.root }, 'tftp started');
  // The ready line, whatever the log level: tests and benches read the port from it.
  process.stdout.write(`${JSON.stringify({ msg: 'tftp listening', port: server.port })}\n`);
  const stop = () => {
    void server.stop().then(() => {
      // Like the ready line, whatever the log level: tests read what the server received.
      process.stdout.write(`${JSON.stringify({ msg: 'tftp stopped', stats: server.stats() })}\n`);
      process.exit(0);
    });
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
