// The server side of room seeding: one multicast stream of every piece of a manifest, paced at a
// fixed rate and never waiting for a receiver. Receivers that miss pieces (late, lossy, restarted)
// fetch exactly those over HTTP, so nobody holds the room back (docs/imaging.md "Room seeding").
import { createSocket, type Socket } from 'node:dgram';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NetimageError } from '../errors.ts';
import { piecesOf, sessionOf, type SeedManifest } from './manifest.ts';
import { encodePacket, FRAGMENT_BYTES, PacketType } from './wire.ts';

export interface SendOptions {
  manifest: SeedManifest;
  /** Directory holding the manifest's files. */
  dir: string;
  /** IPv4 multicast group, e.g. 239.255.42.1 (administratively scoped). */
  group: string;
  port: number;
  /** Address of the interface to send on (the server's address on the room's network). */
  localAddress: string;
  /** Payload bytes per second on the wire. */
  rateBytesPerSecond: number;
  /** Router hops; 1 keeps the stream on the room's segment. */
  ttl?: number;
  /**
   * Data starts when this settles (e.g. every PC of the room has joined, or a deadline passed);
   * until then HELLO packets tell joining receivers that multicast reaches them.
   */
  start?: Promise<void>;
  onProgress?: (p: SendProgress) => void;
  signal?: AbortSignal;
}

export interface SendProgress {
  piecesSent: number;
  pieces: number;
  bytesSent: number;
  bytes: number;
}

export interface SendResult {
  pieces: number;
  bytes: number;
  datagrams: number;
  seconds: number;
}

/** END is repeated: a receiver that loses one still learns the stream is over before its idle timeout. */
const END_REPEATS = 3;
const END_GAP_MS = 20;
const HELLO_EVERY_MS = 200;

export async function sendSeed(o: SendOptions): Promise<SendResult> {
  if (!(o.rateBytesPerSecond > 0)) throw new NetimageError('invalid', `seeding rate ${o.rateBytesPerSecond} bytes/s`);
  const pieces = piecesOf(o.manifest);
  const session = sessionOf(o.manifest);
  const bytes = pieces.reduce((s, p) => s + p.length, 0);
  const socket = createSocket({ type: 'udp4' });
  const handles: FileHandle[] = [];
  const started = performance.now();
  let datagrams = 0;
  let sent = 0;
  try {
    await bindSender(socket, o.localAddress, o.ttl ?? 1);
    for (const f of o.manifest.files) handles.push(await open(join(o.dir, f.name), 'r'));
    const send = (b: Buffer) => new Promise<void>((resolve, reject) => socket.send(b, o.port, o.group, (e) => (e ? reject(e) : resolve())));
    if (o.start) {
      let started = false;
      void o.start.finally(() => (started = true));
      while (!started) {
        o.signal?.throwIfAborted();
        await send(encodePacket({ type: PacketType.Hello, session, piece: 0, offset: 0, pieceLength: 0, pieces: pieces.length }));
        await Promise.race([o.start, sleep(HELLO_EVERY_MS)]);
      }
    }
    const dataStart = performance.now();
    let buf = Buffer.alloc(0);
    for (const piece of pieces) {
      if (buf.length < piece.length) buf = Buffer.alloc(piece.length);
      const { bytesRead } = await handles[piece.file]!.read(buf, 0, piece.length, piece.offset);
      if (bytesRead !== piece.length) throw new NetimageError('failed', `${piece.name} is shorter than its manifest says`);
      for (let off = 0; off < piece.length; off += FRAGMENT_BYTES) {
        o.signal?.throwIfAborted();
        const data = buf.subarray(off, Math.min(off + FRAGMENT_BYTES, piece.length));
        await send(encodePacket({ type: PacketType.Data, session, piece: piece.index, offset: off, pieceLength: piece.length, pieces: pieces.length }, data));
        datagrams++;
        sent += data.length;
        // Pace by the clock, not per packet: sleep only when more than 2 ms ahead of the rate.
        const ahead = (sent / o.rateBytesPerSecond) * 1000 - (performance.now() - dataStart);
        if (ahead > 2) await sleep(ahead);
      }
      o.onProgress?.({ piecesSent: piece.index + 1, pieces: pieces.length, bytesSent: sent, bytes });
    }
    for (let i = 0; i < END_REPEATS; i++) {
      await send(encodePacket({ type: PacketType.End, session, piece: 0, offset: 0, pieceLength: 0, pieces: pieces.length }));
      datagrams++;
      if (i < END_REPEATS - 1) await sleep(END_GAP_MS);
    }
  } finally {
    await Promise.all(handles.map((h) => h.close()));
    socket.close();
  }
  return { pieces: pieces.length, bytes, datagrams, seconds: (performance.now() - started) / 1000 };
}

async function bindSender(socket: Socket, localAddress: string, ttl: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, localAddress, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.setMulticastInterface(localAddress);
  socket.setMulticastTTL(ttl);
  socket.setMulticastLoopback(false);
}
