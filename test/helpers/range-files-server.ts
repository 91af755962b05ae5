// Stand-in for the depot's file route in seeding labs (test/imaging/seed.test.ts, bench/seeding.ts):
// a plain HTTP server that serves a directory's files with Range, as the depot does, run inside a
// network namespace (Node cannot enter one, so this is its own process). Prints
// {"event":"listening"} when ready and counts the bytes it sends ({"event":"served"} on SIGTERM).
//   node test/helpers/range-files-server.ts DIR ADDRESS PORT
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join, normalize } from 'node:path';
import { parseRange } from '../../bootserver/http/boot-files.ts';

const [dir, address, port] = process.argv.slice(2) as [string, string, string];
let served = 0;
const server = createServer((req, res) => {
  const name = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^\/+/, '');
  if (name.startsWith('..')) return res.writeHead(404).end();
  const path = join(dir, name);
  void stat(path).then(
    (info) => {
      const range = parseRange(req.headers.range, info.size);
      if (range === null) return res.writeHead(416, { 'content-range': `bytes */${info.size}` }).end();
      const start = range?.start ?? 0;
      const end = range?.end ?? info.size - 1;
      const headers: Record<string, string> = { 'accept-ranges': 'bytes', 'content-length': String(end - start + 1) };
      if (range) headers['content-range'] = `bytes ${start}-${end}/${info.size}`;
      res.writeHead(range ? 206 : 200, headers);
      served += end - start + 1;
      createReadStream(path, { start, end }).pipe(res);
    },
    () => res.writeHead(404).end(),
  );
});
server.listen(Number(port), address, () => process.stdout.write(JSON.stringify({ event: 'listening' }) + '\n'));
process.on('SIGTERM', () => {
  process.stdout.write(JSON.stringify({ event: 'served', bytes: served }) + '\n');
  process.exit(0);
});
