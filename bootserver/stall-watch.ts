// Warns when the server's event loop was blocked long enough for network-boot clients to notice.
// DHCP, TFTP and HTTP are answered from this one loop: a PXE ROM collects DHCP offers for 3–4 s
// and then goes on without ours (OVMF: "failed to load ... UEFI PXEv4 ... Not Found"); TFTP and
// HTTP clients time out and retry. A line in the log at the time says why a PC missed the server.
import type { Logger } from 'pino';

/** How long the loop was blocked beyond the timer's period (pure). Never negative. */
export function blockedMs(periodMs: number, elapsedMs: number): number {
  return Math.max(0, elapsedMs - periodMs);
}

export interface StallWatchOptions {
  log: Logger;
  /** Timer period (default 250 ms). */
  periodMs?: number;
  /** Warn when blocked at least this long (default 1000 ms: a third of a PXE ROM's DHCP window). */
  warnAtMs?: number;
  now?: () => number;
}

export function watchStalls(o: StallWatchOptions): { stop(): void } {
  const periodMs = o.periodMs ?? 250;
  const warnAtMs = o.warnAtMs ?? 1000;
  const now = o.now ?? (() => performance.now());
  let last = now();
  const timer = setInterval(() => {
    const at = now();
    const blocked = blockedMs(periodMs, at - last);
    last = at;
    if (blocked >= warnAtMs) {
      o.log.warn({ blockedMs: Math.round(blocked) }, `event loop blocked for ${(blocked / 1000).toFixed(1)} s: DHCP, TFTP and HTTP answers waited that long (a PXE ROM stops waiting for DHCP offers after 3–4 s)`);
    }
  }, periodMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
