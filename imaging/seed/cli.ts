// Room seeding from the command line, one JSON object per line on stdout (what the tests and the
// bench drive in network namespaces, and what the agent will run):
//   node imaging/seed/cli.ts manifest --dir D [--piece-kib 1024] FILE...      > seed.json
//   node imaging/seed/cli.ts send --dir D --manifest seed.json --group G --port P --local IP --rate-mbit 200
//        [--wait-for-go]   (HELLO until a line arrives on stdin, then the data)
//   node imaging/seed/cli.ts receive --manifest-url URL --base-url URL --out D --group G --port P --local IP
//        [--join-timeout-ms 3000] [--idle-timeout-ms 3000] [--wait-for-go]   (join when a line arrives on stdin)
//   node imaging/seed/cli.ts receive-golden --server URL --entry NAME --root D --local IP [--token T]
//        [--join-timeout-ms …] [--idle-timeout-ms …] [--wait-for-go]
//        what a restore job with server_image_multicast runs (imaging/golden.ts fetchGoldenImage with
//        the session of GET URL/agent/v1/seed) into the image store at D (a mounted backup partition)
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { NetimageError } from '../../lib/errors.ts';
import { buildManifest, parseManifest } from '../../lib/seed/manifest.ts';
import { receiveSeed, type ReceiveEvent } from './receiver.ts';
import { sendSeed } from '../../lib/seed/sender.ts';
import { directorySink } from './sink.ts';
import { fetchGoldenImage, parseSeedSession } from '../golden.ts';
import { AGENT_API_PREFIX } from '../../lib/agent-protocol.ts';
import { SEED_SESSION_PATH } from '../../lib/golden.ts';

const say = (o: object) => process.stdout.write(JSON.stringify(o) + '\n');

/** A receiver's events as JSON lines; progress once per whole percent. */
function receiveEventPrinter(): (e: ReceiveEvent) => void {
  let last = -1;
  return (e) => {
    if (e.type !== 'progress') return say({ event: e.type, ...e, type: undefined });
    const percent = Math.floor((e.piecesDone * 100) / e.pieces);
    if (percent !== last) say({ event: 'progress', percent, ...e, type: undefined });
    last = percent;
  };
}
const [verb, ...rest] = process.argv.slice(2);
const { values: v, positionals } = parseArgs({
  args: rest,
  allowPositionals: true,
  options: {
    dir: { type: 'string' },
    out: { type: 'string' },
    manifest: { type: 'string' },
    'manifest-url': { type: 'string' },
    'base-url': { type: 'string' },
    'piece-kib': { type: 'string', default: '1024' },
    group: { type: 'string', default: '239.255.42.1' },
    port: { type: 'string', default: '9042' },
    local: { type: 'string' },
    'rate-mbit': { type: 'string', default: '200' },
    'join-timeout-ms': { type: 'string' },
    'idle-timeout-ms': { type: 'string' },
    'wait-for-go': { type: 'boolean', default: false },
    server: { type: 'string' },
    entry: { type: 'string' },
    root: { type: 'string' },
    token: { type: 'string' },
  },
});
const need = (name: keyof typeof v): string => {
  const value = v[name];
  if (typeof value !== 'string' || value === '') throw new NetimageError('invalid', `--${name} is required`);
  return value;
};
const optNumber = (name: keyof typeof v) => (typeof v[name] === 'string' ? Number(v[name]) : undefined);

/** With --wait-for-go: says {"event":"waiting"} and settles at the first line on stdin. */
function goSignal(): Promise<void> | undefined {
  if (!v['wait-for-go']) return undefined;
  say({ event: 'waiting' });
  return new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
}

try {
  if (verb === 'manifest') {
    say(await buildManifest(need('dir'), positionals, Number(v['piece-kib']) * 1024));
  } else if (verb === 'send') {
    const manifest = parseManifest(JSON.parse(await readFile(need('manifest'), 'utf8')));
    let last = -1;
    const start = goSignal();
    const result = await sendSeed({
      start,
      manifest,
      dir: need('dir'),
      group: need('group'),
      port: Number(need('port')),
      localAddress: need('local'),
      rateBytesPerSecond: (Number(need('rate-mbit')) * 1e6) / 8,
      onProgress: (p) => {
        const percent = Math.floor((p.piecesSent * 100) / p.pieces);
        if (percent !== last) say({ event: 'sending', percent, ...p });
        last = percent;
      },
    });
    process.stdin.destroy();
    say({ event: 'sent', ...result });
  } else if (verb === 'receive') {
    const res = await fetch(need('manifest-url'));
    if (!res.ok) throw new NetimageError('unavailable', `${v['manifest-url']}: HTTP ${res.status}`);
    const manifest = parseManifest(await res.json());
    const sink = await directorySink(need('out'), manifest);
    try {
      await goSignal();
      process.stdin.destroy();
      const result = await receiveSeed({
        manifest,
        baseUrl: need('base-url'),
        group: need('group'),
        port: Number(need('port')),
        localAddress: need('local'),
        sink,
        joinTimeoutMs: optNumber('join-timeout-ms'),
        idleTimeoutMs: optNumber('idle-timeout-ms'),
        onEvent: receiveEventPrinter(),
      });
      say({ event: 'received', ...result });
    } finally {
      await sink.close();
    }
  } else if (verb === 'receive-golden') {
    const server = need('server').replace(/\/$/, '');
    const auth: Record<string, string> = v.token ? { authorization: `Bearer ${v.token}` } : {};
    const fetchFile = (path: string, headers: Record<string, string> = {}, signal?: AbortSignal) => fetch(`${server}${path}`, { headers: { ...headers, ...auth }, ...(signal ? { signal } : {}) });
    const res = await fetchFile(`${AGENT_API_PREFIX}${SEED_SESSION_PATH}`);
    if (!res.ok) throw new NetimageError('unavailable', `${server}${AGENT_API_PREFIX}${SEED_SESSION_PATH}: HTTP ${res.status}`);
    const session = { ...parseSeedSession(await res.json()), localAddress: need('local') };
    await goSignal();
    process.stdin.destroy();
    const result = await fetchGoldenImage({
      fetchFile,
      root: need('root'),
      name: need('entry'),
      log: (line) => say({ event: 'log', line }),
      seed: {
        session,
        joinTimeoutMs: optNumber('join-timeout-ms'),
        idleTimeoutMs: optNumber('idle-timeout-ms'),
        onEvent: receiveEventPrinter(),
      },
    });
    say({ event: 'received', image: result.meta.name, fetchedBytes: result.fetchedBytes, ...result.seeded });
  } else {
    throw new NetimageError('invalid', `usage: cli.ts manifest|send|receive|receive-golden … (got ${verb ?? 'nothing'})`);
  }
} catch (e) {
  say({ event: 'error', message: (e as Error).message });
  process.exitCode = 1;
}
