// Option negotiation for a read request (RFC 2347 with 2348 blksize, 2349 tsize/timeout,
// 7440 windowsize). Pure: requested options + limits + file size -> what the transfer uses and
// what goes into the OACK. Options we do not know or whose values are garbage are left out of
// the OACK, which per RFC 2347 tells the client they were not accepted.

import type { TftpOptions } from './codec.ts';

/** RFC 2348 limits. 65464 = 65535 - 20 (IP) - 8 (UDP) - 4 (TFTP header) - 39 spare, per the RFC. */
export const BLKSIZE_MIN = 8;
export const BLKSIZE_MAX = 65464;
export const DEFAULT_BLKSIZE = 512;
/** RFC 7440 allows 1..65535; the cap protects memory and the client's socket buffer. */
export const WINDOWSIZE_MAX = 65535;
export const DEFAULT_MAX_WINDOWSIZE = 64;
/**
 * Bytes one window may put on the wire at once. A window is sent as one burst, and a burst larger
 * than the client's socket receive buffer (Linux default 212992 bytes, i.e. ~12 datagrams of 8 KiB
 * on loopback) loses its tail; RFC 7440 gives the client no fast way to report a lost tail, so
 * every overflow costs a full timeout. Measured: atftp blksize 8192 windowsize 16 took 6 s for
 * 3 MB without this cap, 18 ms with windowsize 8.
 */
export const DEFAULT_MAX_WINDOW_BYTES = 64 * 1024;
/** RFC 2349: seconds, 1..255. */
export const TIMEOUT_MIN_S = 1;
export const TIMEOUT_MAX_S = 255;

export interface NegotiationLimits {
  maxBlksize: number;
  maxWindowsize: number;
  /** windowsize is lowered so windowsize * blksize stays within this (never below 1). */
  maxWindowBytes?: number;
  /** Retransmit timeout used when the client does not ask for one. */
  defaultTimeoutMs: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  /** Options for the OACK in the client's order; null when nothing was accepted (no OACK). */
  oack: { options: TftpOptions; order: string[] } | null;
}

/** Strict decimal: "0012" is fine, "12abc", "", "-1", "1e3" and absurd lengths are not. */
function decimal(value: string): number | null {
  if (!/^[0-9]{1,10}$/.test(value)) return null;
  return Number(value);
}

export function negotiate(
  requested: TftpOptions,
  requestedOrder: readonly string[],
  fileSize: number,
  limits: NegotiationLimits,
): Negotiated {
  let blksize = DEFAULT_BLKSIZE;
  let windowsize = 1;
  let timeoutMs = limits.defaultTimeoutMs;
  const accepted: TftpOptions = Object.create(null) as TftpOptions;
  const order: string[] = [];
  const accept = (name: string, value: number) => {
    accepted[name] = String(value);
    order.push(name);
  };

  for (const name of requestedOrder) {
    const n = decimal(requested[name] ?? '');
    if (n === null) continue;
    switch (name) {
      case 'blksize':
        // Below the minimum the request is invalid: ignore the option, keep 512.
        if (n < BLKSIZE_MIN) break;
        // Above our cap the server may answer with a smaller value (RFC 2348).
        blksize = Math.min(n, limits.maxBlksize, BLKSIZE_MAX);
        accept(name, blksize);
        break;
      case 'windowsize':
        if (n < 1) break;
        windowsize = Math.min(n, limits.maxWindowsize, WINDOWSIZE_MAX);
        accept(name, windowsize);
        break;
      case 'tsize':
        // In a read request the client sends 0 and the server answers with the size.
        accept(name, fileSize);
        break;
      case 'timeout':
        // The value must be echoed unchanged or not at all (RFC 2349): out of range -> not accepted.
        // We retransmit after the shorter of the client's and our own timeout: duplicate ACKs are
        // never answered (Sorcerer's Apprentice), so our timer alone recovers lost packets, and
        // curl's habitual "timeout 6" would otherwise cost 6 s per lost packet. Retransmitting
        // earlier than the client expects only costs a duplicate, which clients discard.
        if (n < TIMEOUT_MIN_S || n > TIMEOUT_MAX_S) break;
        timeoutMs = Math.min(n * 1000, limits.defaultTimeoutMs);
        accept(name, n);
        break;
      default:
        break;
    }
  }
  // The byte cap depends on the final blksize, whatever order the options came in.
  if (accepted['windowsize'] !== undefined) {
    const byBytes = Math.max(1, Math.floor((limits.maxWindowBytes ?? DEFAULT_MAX_WINDOW_BYTES) / blksize));
    windowsize = Math.min(windowsize, byBytes);
    accepted['windowsize'] = String(windowsize);
  }
  return { blksize, windowsize, timeoutMs, oack: order.length > 0 ? { options: accepted, order } : null };
}
