// The PC side of room seeding: take every piece the multicast stream brings, check its sha256,
// and fetch exactly the pieces it did not bring (joined late, lost packets, damaged, or no
// multicast at all) over HTTP Range from the server that serves the same files. A piece counts
// only once its bytes match the manifest; the transfer is complete when every piece counts.
import { createSocket, type Socket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetimageError } from '../../lib/errors.ts';
import { resumeAnswer } from '../../lib/http-resume.ts';
import { piecesOf, sessionOf, sha256Of, type Piece, type SeedManifest } from '../../lib/seed/manifest.ts';
import { decodePacket, FRAGMENT_BYTES, missingRanges, PacketType, type Packet } from '../../lib/seed/wire.ts';

/** Where verified pieces go: a directory (directorySink) or the caller's writer (a partition). */
export interface PieceSink {
  write(piece: Piece, data: Buffer): Promise<void>;
  /** True when the target already holds this piece's verified bytes (a restarted receiver). */
  has?(piece: Piece): Promise<boolean>;
}

export interface ReceiveOptions {
  manifest: SeedManifest;
  /** The files are served (with Range) at `${baseUrl}/${name}`. */
  baseUrl: string;
  /** E.g. the job token's Authorization header for the depot. */
  httpHeaders?: Record<string, string>;
  /**
   * How catch-up requests go out (default: global fetch). The agent passes its job-token fetch
   * (AgentServerApi.fetchFile), and `baseUrl` is then a server-relative path.
   */
  fetch?: (url: string, init: { headers: Record<string, string>; signal: AbortSignal }) => Promise<Response>;
  group: string;
  port: number;
  /** This PC's address on the network the stream comes over. */
  localAddress: string;
  sink: PieceSink;
  /** No packet of this transfer within this after joining: multicast is blocked, everything over HTTP. */
  joinTimeoutMs?: number;
  /** Packets stopped for this long (default 3 s; END normally comes first): the stream is over or we were cut off, the rest over HTTP. */
  idleTimeoutMs?: number;
  /** HTTP requests at once for catch-up. */
  catchUpConcurrency?: number;
  onEvent?: (e: ReceiveEvent) => void;
  signal?: AbortSignal;
}

export type ReceiveEvent =
  | { type: 'joined'; group: string; present: number }
  | { type: 'multicast-blocked'; message: string }
  | { type: 'stream-over'; reason: 'end' | 'idle'; missing: number }
  | { type: 'damaged-piece'; piece: number; via: 'multicast' | 'http' }
  | { type: 'progress'; piecesDone: number; pieces: number; bytesDone: number; bytes: number; viaMulticast: number; viaHttp: number };

export interface ReceiveResult {
  pieces: number;
  bytes: number;
  /** Pieces the target already held (verified) when we started. */
  present: number;
  /** Pieces that came whole over multicast. */
  viaMulticast: number;
  /** Pieces completed over HTTP (the fragments multicast lost, or the whole piece). */
  viaHttp: number;
  bytesMulticast: number;
  /** Bytes fetched over HTTP. */
  bytesHttp: number;
  /** Why multicast brought nothing, or null. */
  multicastBlocked: string | null;
  /** How the stream ended for this PC: END seen, packets stopped (idle), none came (blocked), or null (had everything already). */
  streamEnd: 'end' | 'idle' | 'blocked' | null;
  seconds: number;
}

/** Per piece: Pending; Done (verified and written); Http (handed to catch-up, or being written: multicast ignores it). */
const State = { Pending: 0, Done: 1, Http: 2 } as const;

interface Assembly {
  buf: Buffer;
  got: Uint8Array;
  missing: number;
}

export async function receiveSeed(o: ReceiveOptions): Promise<ReceiveResult> {
  const started = performance.now();
  const pieces = piecesOf(o.manifest);
  const session = sessionOf(o.manifest);
  const total = pieces.length;
  const bytes = pieces.reduce((s, p) => s + p.length, 0);
  const state = new Uint8Array(total);
  const assembling = new Map<number, Assembly>();
  /** Pieces for HTTP catch-up, with what multicast brought of them (only the rest is fetched). */
  const queue: { piece: Piece; partial: Assembly | undefined }[] = [];
  const r: ReceiveResult = { pieces: total, bytes, present: 0, viaMulticast: 0, viaHttp: 0, bytesMulticast: 0, bytesHttp: 0, multicastBlocked: null, streamEnd: null, seconds: 0 };
  let done = 0;
  let bytesDone = 0;
  const abort = new AbortController();
  const stop = () => abort.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', stop, { once: true });

  let finished!: () => void;
  let failed!: (e: unknown) => void;
  const complete = new Promise<void>((resolve, reject) => ((finished = resolve), (failed = reject)));
  const fail = (e: unknown) => {
    abort.abort(e);
    failed(e);
  };
  const counted = (piece: Piece, via: 'present' | 'multicast' | 'http') => {
    state[piece.index] = State.Done;
    done++;
    bytesDone += piece.length;
    if (via === 'present') r.present++;
    else if (via === 'multicast') (r.viaMulticast++, (r.bytesMulticast += piece.length));
    else r.viaHttp++;
    o.onEvent?.({ type: 'progress', piecesDone: done, pieces: total, bytesDone, bytes, viaMulticast: r.viaMulticast, viaHttp: r.viaHttp });
    if (done === total) finished();
  };

  // HTTP catch-up: workers drain the queue while the stream goes on, then after it.
  const waiters: (() => void)[] = [];
  const wakeAll = () => {
    for (const w of waiters.splice(0)) w();
  };
  let streamOver = false;
  const toHttp = (p: Piece) => {
    if (state[p.index] !== State.Pending) return;
    state[p.index] = State.Http;
    queue.push({ piece: p, partial: assembling.get(p.index) });
    assembling.delete(p.index);
    wakeAll();
  };
  const worker = async () => {
    while (!abort.signal.aborted && done < total) {
      const next = queue.shift();
      if (!next) {
        await new Promise<void>((resolve) => waiters.push(resolve));
        continue;
      }
      const p = next.piece;
      const got = await catchUp(o, p, next.partial, abort.signal, () => o.onEvent?.({ type: 'damaged-piece', piece: p.index, via: 'http' }));
      await o.sink.write(p, got.data);
      r.bytesHttp += got.fetched;
      counted(p, 'http');
    }
  };

  if (o.sink.has) {
    for (const p of pieces) if (await o.sink.has(p)) counted(p, 'present');
  }
  if (done === total) return { ...r, seconds: (performance.now() - started) / 1000 };

  const endStream = (reason: 'end' | 'idle' | 'blocked', message?: string) => {
    if (streamOver) return;
    streamOver = true;
    r.streamEnd = reason;
    if (reason === 'blocked') {
      r.multicastBlocked = message!;
      o.onEvent?.({ type: 'multicast-blocked', message: message! });
    } else {
      // Missing: neither received nor already handed to catch-up (pieces being written are not).
      let missing = queue.length;
      for (let i = 0; i < total; i++) if (state[i] === State.Pending) missing++;
      o.onEvent?.({ type: 'stream-over', reason, missing });
    }
    for (const p of pieces) toHttp(p);
    wakeAll();
  };

  // Pieces come in order: a packet of piece p means every unfinished piece before it was missed.
  let scanFrom = 0;
  const writes = new Set<Promise<void>>();
  let lastPacket = 0;
  const onPacket = (p: Packet) => {
    lastPacket = performance.now();
    if (p.type === PacketType.End) return endStream('end');
    if (p.type === PacketType.Hello) return;
    if (p.piece >= total || p.pieceLength !== pieces[p.piece]!.length) return;
    for (; scanFrom < p.piece; scanFrom++) if (state[scanFrom] === State.Pending) toHttp(pieces[scanFrom]!);
    if (state[p.piece] !== State.Pending) return;
    let a = assembling.get(p.piece);
    if (!a) {
      const fragments = Math.ceil(p.pieceLength / FRAGMENT_BYTES);
      a = { buf: Buffer.allocUnsafe(p.pieceLength), got: new Uint8Array(fragments), missing: fragments };
      assembling.set(p.piece, a);
    }
    const f = Math.floor(p.offset / FRAGMENT_BYTES);
    if (p.offset % FRAGMENT_BYTES !== 0 || a.got[f]) return;
    p.data.copy(a.buf, p.offset);
    a.got[f] = 1;
    if (--a.missing > 0) return;
    assembling.delete(p.piece);
    const piece = pieces[p.piece]!;
    if (sha256Of(a.buf) !== piece.sha256) {
      o.onEvent?.({ type: 'damaged-piece', piece: piece.index, via: 'multicast' });
      return toHttp(piece);
    }
    state[piece.index] = State.Http; // taken: no second copy while it is being written
    const w = o.sink.write(piece, a.buf).then(() => counted(piece, 'multicast'), fail);
    writes.add(w);
    void w.finally(() => writes.delete(w));
  };

  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  socket.on('message', (msg) => {
    const p = decodePacket(msg);
    if (p && p.session === session && !streamOver) onPacket(p);
  });
  socket.on('error', (e) => endStream('blocked', `multicast socket error: ${e.message}: fetching every piece over HTTP`));
  const joinTimeoutMs = o.joinTimeoutMs ?? 3000;
  const idleTimeoutMs = o.idleTimeoutMs ?? 3000;
  const joinedAt = performance.now();
  const watch = setInterval(() => {
    if (streamOver) return;
    const now = performance.now();
    if (lastPacket === 0 && now - joinedAt > joinTimeoutMs)
      endStream('blocked', `no multicast from ${o.group}:${o.port} within ${(joinTimeoutMs / 1000).toFixed(1)} s (blocked by a firewall or switch, no multicast route, or the stream is over): fetching all ${total - done} pieces over HTTP`);
    else if (lastPacket !== 0 && now - lastPacket > idleTimeoutMs) endStream('idle');
  }, 50);

  const workers: Promise<void>[] = [];
  try {
    try {
      await joinGroup(socket, o.group, o.port, o.localAddress);
    } catch (e) {
      endStream('blocked', `cannot join multicast group ${o.group} on ${o.localAddress}: ${(e as Error).message}: fetching every piece over HTTP`);
    }
    if (!streamOver) o.onEvent?.({ type: 'joined', group: o.group, present: r.present });
    for (let i = 0; i < (o.catchUpConcurrency ?? 2); i++) workers.push(worker().catch(fail));
    await Promise.race([complete, new Promise((_, reject) => abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true }))]);
  } finally {
    clearInterval(watch);
    socket.close();
    abort.abort(new Error('receive finished'));
    wakeAll();
    o.signal?.removeEventListener('abort', stop);
    await Promise.allSettled([...workers, ...writes]);
  }
  return { ...r, seconds: (performance.now() - started) / 1000 };
}

async function joinGroup(socket: Socket, group: string, port: number, localAddress: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    // Bound to the group: unicast datagrams to this port never reach us.
    socket.bind(port, group, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.addMembership(group, localAddress);
  try {
    socket.setRecvBufferSize(8 * 1024 * 1024);
  } catch {
    // capped by net.core.rmem_max; the default still works, loss is caught up over HTTP
  }
}

const HTTP_ATTEMPTS = 4;

/**
 * A piece completed over HTTP: first only the ranges multicast lost (when some of it arrived),
 * then, if that does not verify, the whole piece; a whole piece that fails its sha256 twice means
 * the server's copy is damaged.
 */
async function catchUp(o: ReceiveOptions, p: Piece, partial: Assembly | undefined, signal: AbortSignal, onDamaged: () => void): Promise<{ data: Buffer; fetched: number }> {
  let fetched = 0;
  if (partial) {
    for (const [start, end] of missingRanges(partial.got, p.length)) {
      const part = await fetchRange(o, p, p.offset + start, end - start, signal);
      part.copy(partial.buf, start);
      fetched += part.length;
    }
    if (sha256Of(partial.buf) === p.sha256) return { data: partial.buf, fetched };
    onDamaged();
  }
  for (let attempt = 1; ; attempt++) {
    const data = await fetchRange(o, p, p.offset, p.length, signal);
    fetched += data.length;
    if (sha256Of(data) === p.sha256) return { data, fetched };
    onDamaged();
    if (attempt === 2) throw new NetimageError('failed', `piece ${p.index} of ${p.name} from ${o.baseUrl} does not match its sha256 twice: the server's copy is damaged`);
  }
}

/** `length` bytes at `offset` of the piece's file over HTTP Range; network trouble and 5xx are retried. */
async function fetchRange(o: ReceiveOptions, p: Piece, offset: number, length: number, signal: AbortSignal): Promise<Buffer> {
  const url = `${o.baseUrl.replace(/\/$/, '')}/${p.name.split('/').map(encodeURIComponent).join('/')}`;
  let lastError = '';
  for (let attempt = 1; attempt <= HTTP_ATTEMPTS; attempt++) {
    signal.throwIfAborted();
    try {
      const res = await (o.fetch ?? fetch)(url, { headers: { ...o.httpHeaders, range: `bytes=${offset}-${offset + length - 1}` }, signal });
      // A 206 counts only for the range asked for: bytes from elsewhere would pass as this piece's.
      const answer = resumeAnswer(res.status, res.headers.get('content-range'), offset);
      if (answer.use === 'tail' || (answer.use === 'whole' && offset === 0)) {
        const body = Buffer.from(await res.arrayBuffer());
        if (body.length >= length) return body.subarray(0, length);
        lastError = `short answer (${body.length} of ${length} bytes)`;
      } else {
        await res.body?.cancel();
        lastError = answer.use === 'none' ? answer.reason : `HTTP ${res.status} (the whole file)`;
        if (res.status < 500) throw new NetimageError(res.status === 404 ? 'not_found' : 'failed', `${url}: ${lastError} for piece ${p.index}`);
      }
    } catch (e) {
      if (e instanceof NetimageError || signal.aborted) throw e;
      lastError = (e as Error).message;
    }
    await sleep(200 * attempt, undefined, { signal });
  }
  throw new NetimageError('unavailable', `${url}: piece ${p.index} could not be fetched (${lastError})`);
}
