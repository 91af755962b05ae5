// One read transfer on its own UDP socket (its TID): drives a SendWindow with ACKs and timeouts
// and puts DATA packets on the wire.
//
// Hot path design: the file is read ahead in chunks with one preadv per chunk into a buffer laid
// out as [4-byte header][block] slots, so a DATA packet is a view of that buffer with the header
// written in place: no copy and no allocation per packet beyond what dgram.send itself does.
// Two chunk buffers alternate so the next chunk can be read while the current one is being sent.

import type { Socket } from 'node:dgram';
import { ackBlockOf, errorPacket, OP_ERROR, OP_OACK, serializePacket, TFTP_ERROR, writeDataHeader } from './codec.ts';
import type { TftpFile } from './files.ts';
import type { Negotiated } from './negotiate.ts';
import { retransmitDelayMs, SendWindow } from './window.ts';

/** Bytes read ahead per chunk (at least one window). Two chunks per transfer. */
const CHUNK_BYTES = 256 * 1024;
/** How long a transfer lingers after ICMP port unreachable, for a final ACK still queued. */
const UNREACHABLE_GRACE_MS = 100;

export interface TransferResult {
  ok: boolean;
  /** Why it ended when not ok. */
  reason?: string;
  /** Payload bytes sent, retransmissions included. */
  bytesSent: number;
  packetsSent: number;
  resentWindows: number;
  duplicateAcks: number;
  ms: number;
}

export interface TransferParams {
  /** Bound and connected to the client's address and port. */
  socket: Socket;
  file: TftpFile;
  negotiated: Negotiated;
  maxRetries: number;
  onEnd: (result: TransferResult) => void;
}

/** A chunk of consecutive blocks [first, first + count) read from the file. */
class Chunk {
  readonly buf: Buffer;
  readonly stride: number;
  readonly slots: number;
  /** preadv targets: the block part of each slot. */
  readonly dataViews: Buffer[];
  /** Whole-slot views (header + full block) for full-size packets. */
  readonly packetViews: Buffer[];
  first = -1;
  count = 0;
  loading: Promise<void> | null = null;
  constructor(slots: number, blksize: number) {
    this.stride = blksize + 4;
    this.slots = slots;
    this.buf = Buffer.allocUnsafe(slots * this.stride);
    this.dataViews = [];
    this.packetViews = [];
    for (let i = 0; i < slots; i++) {
      const at = i * this.stride;
      this.dataViews.push(this.buf.subarray(at + 4, at + this.stride));
      this.packetViews.push(this.buf.subarray(at, at + this.stride));
    }
  }
  has(block: number): boolean {
    return this.loading === null && block >= this.first && block < this.first + this.count;
  }
}

export class Transfer {
  private readonly socket: Socket;
  private readonly file: TftpFile;
  private readonly blksize: number;
  private readonly timeoutMs: number;
  private readonly window: SendWindow;
  private readonly oack: Buffer | null;
  private readonly onEnd: (result: TransferResult) => void;
  private readonly chunks: [Chunk, Chunk];
  private readonly started = performance.now();
  private timer: NodeJS.Timeout | null = null;
  private timerMs = 0;
  /** ICMP port unreachable seen: the client has most likely exited. */
  private unreachable = false;
  private ended = false;
  /** A send is waiting for a chunk read. */
  private waiting = false;
  bytesSent = 0;
  packetsSent = 0;

  constructor(params: TransferParams) {
    this.socket = params.socket;
    this.file = params.file;
    this.onEnd = params.onEnd;
    const { blksize, windowsize, timeoutMs, oack } = params.negotiated;
    this.blksize = blksize;
    this.timeoutMs = timeoutMs;
    this.oack = oack ? serializePacket({ op: OP_OACK, options: oack.options, optionOrder: oack.order }) : null;
    this.window = new SendWindow(this.file.size, blksize, windowsize, oack !== null, params.maxRetries);
    const slots = Math.min(this.window.lastBlock, Math.max(windowsize, Math.ceil(CHUNK_BYTES / blksize)));
    this.chunks = [new Chunk(slots, blksize), new Chunk(slots, blksize)];
  }

  start(): void {
    this.socket.on('message', (msg) => this.onMessage(msg));
    this.socket.on('error', (error: NodeJS.ErrnoException) => {
      // ICMP port unreachable on our connected socket: the client is gone. Other send
      // errors (ENOBUFS, EPERM from a local firewall) are like a lost packet: the timer retries.
      // Not at once: the client's final ACK may still be queued behind the error (a retransmit
      // raced with it), so wait a moment for it before calling the transfer failed.
      if (error.code === 'ECONNREFUSED' && !this.unreachable) {
        this.unreachable = true;
        this.armTimer(UNREACHABLE_GRACE_MS);
      }
    });
    this.window.start();
    this.pump();
  }

  /** Stop now (server shutdown): tell the client, free everything. */
  abort(reason: string): void {
    if (this.ended) return;
    this.trySend(errorPacket(TFTP_ERROR.notDefined, reason));
    this.finish(false, reason);
  }

  private onMessage(msg: Buffer): void {
    if (this.ended) return;
    const block = ackBlockOf(msg);
    if (block < 0) {
      // The client may cancel with an ERROR (e.g. 8 "option refused", or 5 after a duplicate
      // RRQ was answered from a second TID). Anything else from the peer is ignored.
      if (msg.length >= 4 && msg[0] === 0 && msg[1] === OP_ERROR) this.finish(false, `client error ${msg.readUInt16BE(2)}`);
      return;
    }
    const outcome = this.window.onAck(block);
    if (outcome === 'advance') this.pump();
    else if (outcome === 'complete') this.finish(true);
  }

  private onTimeout(): void {
    if (this.ended) return;
    if (this.unreachable) {
      this.finish(false, 'client port unreachable');
      return;
    }
    if (this.window.onTimeout() === 'give-up') {
      this.abort(`no ACK after ${this.window.maxRetries} retransmissions`);
      return;
    }
    this.pump();
  }

  /** (Re)start the retransmit timer; refresh() is cheaper than a new timer when the delay is unchanged. */
  private armTimer(ms: number): void {
    if (this.timer && this.timerMs === ms) {
      this.timer.refresh();
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timerMs = ms;
    this.timer = setTimeout(() => this.onTimeout(), ms);
  }

  /** Send the window the SendWindow asks for, reading chunks as needed. */
  private pump(): void {
    if (this.ended) return;
    const from = this.window.sendFrom;
    const to = this.window.sendTo;
    let block = from;
    if (block === 0 && this.oack) {
      this.trySend(this.oack);
      block = 1;
    }
    while (block <= to) {
      const chunk = this.chunkFor(block);
      if (!chunk) {
        // Not read yet: this pump resumes when the read finishes (with whatever window is
        // current then; ACKs may have moved it meanwhile).
        this.waiting = true;
        break;
      }
      const last = Math.min(to, chunk.first + chunk.count - 1);
      for (; block <= last; block++) this.sendBlock(chunk, block);
    }
    // Bookkeeping after the packets are out: at windowsize 1 everything before the send is latency.
    if (!this.unreachable) this.armTimer(retransmitDelayMs(this.timeoutMs, this.window.retries));
    if (!this.waiting) this.prefetch(to + 1);
  }

  private chunkFor(block: number): Chunk | null {
    const [a, b] = this.chunks;
    if (a.has(block)) return a;
    if (b.has(block)) return b;
    if (a.loading || b.loading) {
      const loading = a.loading ? a : b;
      if (block >= loading.first && block < loading.first + loading.count) return null;
    }
    this.load(block);
    return null;
  }

  /** Read ahead the chunk after the one that holds `block`, into the other buffer. */
  private prefetch(block: number): void {
    if (block > this.window.lastBlock) return;
    const [a, b] = this.chunks;
    if (a.loading || b.loading) return;
    const holder = a.has(block) ? a : b.has(block) ? b : null;
    if (!holder) {
      this.load(block);
      return;
    }
    const next = holder.first + holder.count;
    const other = holder === a ? b : a;
    // Only when the window is already in the current chunk's second half, so that retransmits
    // of the current window still find their blocks in one of the two buffers.
    if (next <= this.window.lastBlock && !other.has(next) && block - holder.first >= holder.count / 2) this.load(next, other);
  }

  private load(block: number, target?: Chunk): void {
    const [a, b] = this.chunks;
    // Overwrite the chunk not holding the oldest block still needed (the first unacknowledged).
    const needed = this.window.acked + 1;
    const chunk = target ?? (a.has(needed) ? b : a);
    if (chunk.loading) return;
    const count = Math.min(chunk.slots, this.window.lastBlock - block + 1);
    chunk.first = block;
    chunk.count = count;
    const loading = this.fill(chunk, block, count);
    chunk.loading = loading;
    loading.then(
      () => {
        chunk.loading = null;
        if (this.waiting) {
          this.waiting = false;
          this.pump();
        }
      },
      (error: unknown) => this.abort(`read failed: ${(error as Error).message}`),
    );
  }

  private async fill(chunk: Chunk, block: number, count: number): Promise<void> {
    // Packets from this buffer may still sit in the socket's send queue (only when the kernel
    // buffer was full): let them leave before overwriting their bytes.
    while (this.socket.getSendQueueCount() > 0 && !this.ended) await new Promise((r) => setImmediate(r));
    if (this.ended) return;
    const position = (block - 1) * this.blksize;
    const expected = Math.max(0, Math.min(count * this.blksize, this.file.size - position));
    if (expected === 0) return;
    const views = count === chunk.slots ? chunk.dataViews : chunk.dataViews.slice(0, count);
    const got = await this.file.readv(views, position);
    if (got < expected) throw new Error(`file shrank: ${got} of ${expected} bytes at ${position}`);
  }

  private sendBlock(chunk: Chunk, block: number): void {
    const slot = block - chunk.first;
    const at = slot * chunk.stride;
    writeDataHeader(chunk.buf, at, block & 0xffff);
    const len = Math.max(0, Math.min(this.blksize, this.file.size - (block - 1) * this.blksize));
    const packet = len === this.blksize ? chunk.packetViews[slot]! : chunk.buf.subarray(at, at + 4 + len);
    this.bytesSent += len;
    this.packetsSent++;
    this.trySend(packet);
  }

  private trySend(packet: Buffer): void {
    try {
      this.socket.send(packet);
    } catch {
      // Socket already closed: the transfer is ending anyway.
    }
  }

  private finish(ok: boolean, reason?: string): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket.removeAllListeners('message');
    // Let a final ERROR packet leave before closing.
    setImmediate(() => {
      try {
        this.socket.close();
      } catch {
        // already closed
      }
    });
    void this.file.close().catch(() => undefined);
    this.onEnd({
      ok,
      ...(reason === undefined ? {} : { reason }),
      bytesSent: this.bytesSent,
      packetsSent: this.packetsSent,
      resentWindows: this.window.resentWindows,
      duplicateAcks: this.window.duplicates,
      ms: performance.now() - this.started,
    });
  }
}
