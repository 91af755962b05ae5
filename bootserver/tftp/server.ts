// The read-only TFTP server: one listening socket for requests; every transfer gets its own
// ephemeral socket (its TID, RFC 1350) so many run at once and stray packets of one transfer
// cannot disturb another.

import dgram, { type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from '../../lib/logger.ts';
import { errorPacket, OP_OACK, OP_RRQ, OP_WRQ, parsePacket, serializePacket, TFTP_ERROR, type RequestPacket } from './codec.ts';
import { TftpAccessDenied, type TftpFile, type TftpFileSource, type TftpRemote } from './files.ts';
import { BLKSIZE_MAX, DEFAULT_MAX_WINDOW_BYTES, DEFAULT_MAX_WINDOWSIZE, negotiate } from './negotiate.ts';
import { normaliseBootFileName } from '../boot-files/names.ts';
import { Transfer, type TransferResult } from './transfer.ts';
import { findTftpSender, NativeSender } from './native-sender.ts';

export interface TftpServerOptions {
  host: string;
  /** 69 for real firmware; 0 picks a free port (tests). */
  port: number;
  source: TftpFileSource;
  log: Logger;
  /** Largest blksize granted (default 65464, the RFC 2348 maximum). */
  maxBlksize?: number;
  /** Largest windowsize granted (default 64). */
  maxWindowsize?: number;
  /** Largest windowsize * blksize burst (default 64 KiB; see negotiate.ts). */
  maxWindowBytes?: number;
  /** Retransmit timeout unless the client negotiates one (default 1000 ms). */
  timeoutMs?: number;
  /** Retransmissions of one window without progress before giving up (default 5). */
  retries?: number;
  /** Transfers at once; requests beyond are dropped so the client retries later (default 1024 with the native sender, else 256). */
  maxConcurrent?: number;
  /** Longest accepted file name (default 255). */
  maxNameLength?: number;
  /**
   * The native sender binary (native-sender.ts) for files on disk; null: every transfer in Node.
   * Default: findTftpSender() (built by set-up; NETIMAGE_TFTP_SENDER=off|FILE overrides).
   */
  nativeSender?: string | null;
}

export interface TftpServerStats {
  active: number;
  requests: number;
  completed: number;
  /** Transfers the client ended right after our OACK with tsize: it only wanted the size (not failures). */
  sizeProbes: number;
  failed: number;
  notFound: number;
  refused: number;
  malformed: number;
  dropped: number;
  bytesSent: number;
  /** Transfers run by the native sender (the rest ran in Node). */
  native: number;
}

export interface TftpServer {
  port: number;
  stop(): Promise<void>;
  stats(): TftpServerStats;
}

/**
 * PXE firmware asks for a file's size first (RRQ with tsize; UEFI PXE does it before every
 * download) and ends that transfer with ERROR 8 once our OACK has told it (RFC 2349). Counted and
 * logged as what it is, not as a failed transfer: one per PC boot would read as a failure rate.
 */
function isSizeProbe(result: { ok: boolean; reason?: string; packetsSent: number }, oack: Readonly<Record<string, string>> | undefined): boolean {
  return !result.ok && result.reason === 'client error 8' && result.packetsSent === 0 && oack?.['tsize'] !== undefined;
}

/** How long an RRQ from the port of a running native transfer waits for that transfer's end. */
const RRQ_AFTER_END_WAIT_MS = 50;

export async function startTftpServer(options: TftpServerOptions): Promise<TftpServer> {
  const log = options.log;
  const limits = {
    maxBlksize: Math.max(8, Math.min(options.maxBlksize ?? BLKSIZE_MAX, BLKSIZE_MAX)),
    maxWindowsize: Math.max(1, options.maxWindowsize ?? DEFAULT_MAX_WINDOWSIZE),
    maxWindowBytes: Math.max(1, options.maxWindowBytes ?? DEFAULT_MAX_WINDOW_BYTES),
    defaultTimeoutMs: options.timeoutMs ?? 1000,
  };
  const retries = options.retries ?? 5;

  const family = isIPv6(options.host) ? 'udp6' : 'udp4';
  const stats: TftpServerStats = {
    active: 0,
    requests: 0,
    completed: 0,
    sizeProbes: 0,
    failed: 0,
    notFound: 0,
    refused: 0,
    malformed: 0,
    dropped: 0,
    bytesSent: 0,
    native: 0,
  };
  /** Running transfers by client address:port; `endSeen` (native ones) settles when Node hears of the end. */
  const transfers = new Map<string, { abort(reason: string): void; endSeen?: Promise<void> }>();
  const senderBinary = options.nativeSender === undefined ? findTftpSender() : options.nativeSender;
  const sender = senderBinary ? new NativeSender(senderBinary, log) : null;
  // A native transfer costs ~0.4 MiB (a process sharing the helper's pages, one 256 KiB chunk);
  // a Node one two 256 KiB chunks in the server's heap. 500 PCs booting at once fit the first.
  const maxConcurrent = options.maxConcurrent ?? (sender ? 1024 : 256);
  /** Requests being resolved/opened, by remote: a retransmitted RRQ must not start a second transfer. */
  const starting = new Set<string>();
  let stopping = false;

  const listener = dgram.createSocket({ type: family, reuseAddr: false });
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.bind({ address: options.host, port: options.port, exclusive: true }, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  listener.on('error', (error) => log.warn({ err: error }, 'tftp listener error'));

  const replyError = (remote: TftpRemote, code: number, message: string) => {
    // From the listening port: every client accepts the first reply from any port, and this
    // keeps "not found" (shim and grub probe several missing files) as cheap as possible.
    if (stopping) return;
    try {
      listener.send(errorPacket(code, message), remote.port, remote.address, () => undefined);
    } catch {
      // Listener closed meanwhile (stop): nothing to answer with.
    }
  };

  listener.on('message', (msg, rinfo) => {
    if (stopping) return;
    const remote: TftpRemote = { address: rinfo.address, port: rinfo.port };
    const parsed = parsePacket(msg);
    if (!parsed.ok) {
      stats.malformed++;
      log.debug({ remote, reason: parsed.reason }, 'tftp malformed packet ignored');
      return;
    }
    const packet = parsed.packet;
    if (packet.op === OP_WRQ) {
      stats.requests++;
      stats.refused++;
      log.info({ remote, file: packet.filename }, 'tftp write request refused');
      replyError(remote, TFTP_ERROR.accessViolation, 'read-only server');
      return;
    }
    if (packet.op !== OP_RRQ) {
      // DATA/ACK/ERROR/OACK belong on a transfer's port, never here.
      stats.malformed++;
      return;
    }
    stats.requests++;
    handleRead(packet, remote).catch((error: unknown) => log.error({ err: error, remote }, 'tftp request handling failed'));
  });

  async function handleRead(request: RequestPacket, remote: TftpRemote): Promise<void> {
    const key = `${remote.address}:${remote.port}`;
    const running = transfers.get(key);
    if (running?.endSeen) {
      // A native transfer's end reaches Node through a pipe, so a client that reuses its port
      // (our tests do; the final ACK is out, then the next RRQ) may be quicker than that line.
      // Wait a moment for it: a new request is served, a retransmitted RRQ of a transfer still
      // running is dropped as before.
      await Promise.race([running.endSeen, new Promise((r) => setTimeout(r, RRQ_AFTER_END_WAIT_MS))]);
    }
    if (starting.has(key) || transfers.has(key)) return; // retransmitted RRQ: the transfer answers it
    if (request.mode !== 'octet') {
      stats.refused++;
      replyError(remote, TFTP_ERROR.illegalOperation, 'only octet mode is supported');
      return;
    }
    const normalised = normaliseBootFileName(request.filename, options.maxNameLength);
    if (!normalised.ok) {
      stats.refused++;
      log.info({ remote, file: request.filename, reason: normalised.reason }, 'tftp request refused');
      replyError(remote, TFTP_ERROR.accessViolation, 'access violation');
      return;
    }
    if (transfers.size + starting.size >= maxConcurrent) {
      // No reply: the client retransmits its request and may find a free slot then.
      stats.dropped++;
      log.warn({ remote, file: normalised.path, active: transfers.size }, 'tftp request dropped: too many transfers');
      return;
    }
    starting.add(key);
    let socket: Socket | null = null;
    let file: TftpFile | null = null;
    let handedOver = false;
    try {
      try {
        file = await options.source.resolve(normalised.path, remote);
      } catch (error) {
        if (error instanceof TftpAccessDenied) {
          stats.refused++;
          log.info({ remote, file: normalised.path, reason: error.message }, 'tftp request refused');
          replyError(remote, TFTP_ERROR.accessViolation, 'access violation');
          return;
        }
        throw error;
      }
      if (!file) {
        stats.notFound++;
        log.debug({ remote, file: normalised.path }, 'tftp file not found');
        replyError(remote, TFTP_ERROR.fileNotFound, 'file not found');
        return;
      }
      if (stopping) {
        await file.close();
        file = null;
        return;
      }
      const negotiated = negotiate(request.options, request.optionOrder, file.size, limits);
      const openedFile = file;
      const onEnd = (result: TransferResult, native: boolean) => {
        transfers.delete(key);
        stats.active = transfers.size;
        stats.bytesSent += result.bytesSent;
        const fields = {
          file: normalised.path,
          remote: key,
          bytes: openedFile.size,
          ms: Math.round(result.ms),
          options: { blksize: negotiated.blksize, windowsize: negotiated.windowsize, timeoutMs: negotiated.timeoutMs, oack: negotiated.oack?.options ?? null },
          packets: result.packetsSent,
          resentWindows: result.resentWindows,
          duplicateAcks: result.duplicateAcks,
          native,
        };
        if (result.ok) {
          stats.completed++;
          log.info(fields, 'tftp transfer complete');
        } else if (isSizeProbe(result, negotiated.oack?.options)) {
          stats.sizeProbes++;
          log.info(fields, 'tftp size probe answered');
        } else {
          stats.failed++;
          log.info({ ...fields, reason: result.reason }, 'tftp transfer failed');
        }
      };
      if (sender?.alive && openedFile.fd !== undefined) {
        // The helper opens the descriptor checked above through /proc, so it reads that inode.
        let endedNow = () => {};
        const ended = new Promise<void>((resolve) => (endedNow = resolve));
        try {
          const native = await sender.start(
            {
              file: `/proc/${process.pid}/fd/${openedFile.fd}`,
              size: openedFile.size,
              blksize: negotiated.blksize,
              windowsize: negotiated.windowsize,
              timeoutMs: negotiated.timeoutMs,
              retries,
              bindHost: options.host,
              clientAddress: remote.address,
              clientPort: remote.port,
              oack: negotiated.oack ? serializePacket({ op: OP_OACK, options: negotiated.oack.options, optionOrder: negotiated.oack.order }) : null,
            },
            (result) => {
              onEnd(result, true);
              endedNow();
            },
          );
          stats.native++;
          transfers.set(key, { abort: (reason) => native.abort(reason), endSeen: ended });
          stats.active = transfers.size;
          handedOver = true;
          await openedFile.close().catch(() => undefined);
          if (stopping) native.abort('server shutting down');
          return;
        } catch (error) {
          // Not started: nothing reached the client, so Node can still serve it.
          log.warn({ err: error, remote, file: normalised.path }, 'tftp native sender could not start the transfer; sending from Node');
        }
      }
      socket = dgram.createSocket({ type: family, sendBufferSize: 4 * 1024 * 1024, recvBufferSize: 256 * 1024 });
      const s = socket;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ address: options.host, port: 0 }, () => {
          s.connect(remote.port, remote.address, () => {
            s.off('error', reject);
            resolve();
          });
        });
      });
      const transfer = new Transfer({
        socket: s,
        file: openedFile,
        negotiated,
        maxRetries: retries,
        onEnd: (result: TransferResult) => onEnd(result, false),
      });
      transfers.set(key, transfer);
      stats.active = transfers.size;
      handedOver = true;
      transfer.start();
    } catch (error) {
      stats.failed++;
      log.error({ err: error, remote, file: normalised.path }, 'tftp request failed');
      replyError(remote, TFTP_ERROR.notDefined, 'server error');
      if (!handedOver) {
        await file?.close().catch(() => undefined);
        try {
          socket?.close();
        } catch {
          // not bound
        }
      }
    } finally {
      starting.delete(key);
    }
  }

  const address = listener.address();
  return {
    port: address.port,
    stats: () => ({ ...stats, active: transfers.size }),
    async stop() {
      if (stopping) return;
      stopping = true;
      for (const transfer of [...transfers.values()]) transfer.abort('server shutting down');
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      // The helper ends its transfers (an ERROR to each client) and reports them before it exits.
      await sender?.stop();
      // Give transfer sockets their turn to close (they close on setImmediate).
      await new Promise((r) => setImmediate(r));
    },
  };
}
