// The sender side of one read transfer as a pure state machine (RFC 1350 lock-step generalised
// by RFC 7440 windows). No sockets, no timers: the transfer driver feeds it ACKs and timeouts
// and sends what it says. Block numbers are kept absolute (1, 2, ... beyond 65535); only the
// wire uses 16 bits, so rollover is a matter of `& 0xffff` at the edges.
//
// Block 0 stands for the OACK when options were negotiated: the client's ACK 0 acknowledges it,
// exactly like a data block, so retransmitting the OACK is the same code path as data.

export type AckOutcome =
  /** The ACK moved the window: send blocks [sendFrom, sendTo]. */
  | 'advance'
  /** The last block is acknowledged: the transfer is complete. */
  | 'complete'
  /**
   * An ACK for the block already acknowledged. Never answered with a resend: answering
   * duplicates with data is the Sorcerer's Apprentice bug (every duplicate doubles the traffic).
   * Lost data is recovered by the timeout instead.
   */
  | 'duplicate'
  /** An ACK for a block not in flight (future, or long past): ignored. */
  | 'out-of-window';

export type TimeoutOutcome = 'resend' | 'give-up';

export class SendWindow {
  /** Number of the last block (the short or empty one); blocks are 1..lastBlock. */
  readonly lastBlock: number;
  readonly windowSize: number;
  readonly maxRetries: number;
  /** Highest block the client has acknowledged (-1: nothing yet, not even the OACK). */
  acked: number;
  /** Highest block sent so far (sending repeats windows, so this is the high-water mark). */
  highestSent: number;
  /** The blocks to send after the last call: [sendFrom, sendTo], inclusive. */
  sendFrom = 0;
  sendTo = -1;
  /** Timeouts in a row without progress. */
  retries = 0;
  /** Counters for logs and tests. */
  duplicates = 0;
  outOfWindow = 0;
  resentWindows = 0;

  constructor(totalBytes: number, blockSize: number, windowSize: number, withOack: boolean, maxRetries: number) {
    if (!(blockSize >= 1) || !(windowSize >= 1)) throw new RangeError('blockSize and windowSize must be >= 1');
    // A file of exactly n blocks still needs a final empty block to mark the end.
    this.lastBlock = Math.floor(totalBytes / blockSize) + 1;
    this.windowSize = windowSize;
    this.maxRetries = maxRetries;
    this.acked = withOack ? -1 : 0;
    this.highestSent = this.acked;
  }

  get done(): boolean {
    return this.acked >= this.lastBlock;
  }

  /** First thing to send: the OACK (block 0) alone, or the first data window. */
  start(): void {
    this.planFromFirstUnacked();
  }

  /** The OACK alone while it is unacknowledged, else a full window from the first unacked block. */
  private planFromFirstUnacked(): void {
    if (this.acked < 0) {
      this.sendFrom = 0;
      this.sendTo = 0;
    } else {
      this.planWindow();
    }
    this.noteSent();
  }

  private planWindow(): void {
    this.sendFrom = this.acked + 1;
    this.sendTo = Math.min(this.acked + this.windowSize, this.lastBlock);
  }

  private noteSent(): void {
    if (this.sendTo > this.highestSent) this.highestSent = this.sendTo;
  }

  /**
   * An ACK with 16-bit block number `wire`. The window in flight is (acked, highestSent]; the
   * wire number is mapped to the one absolute block in [acked, acked + 65535] with the same low
   * 16 bits, which is unambiguous because a window is far smaller than 65536 blocks.
   */
  onAck(wire: number): AckOutcome {
    const delta = (wire - this.acked) & 0xffff;
    if (delta === 0) {
      this.duplicates++;
      return 'duplicate';
    }
    const block = this.acked + delta;
    if (block > this.highestSent) {
      this.outOfWindow++;
      return 'out-of-window';
    }
    // Any ACK inside the window slides it (RFC 7440 section 4: the client acknowledges the last
    // block it got in order; the sender continues with the block after it).
    this.acked = block;
    this.retries = 0;
    if (this.done) {
      this.sendFrom = 0;
      this.sendTo = -1;
      return 'complete';
    }
    this.planWindow();
    this.noteSent();
    return 'advance';
  }

  /** No ACK arrived in time: resend the window from the first unacknowledged block, or give up. */
  onTimeout(): TimeoutOutcome {
    if (this.retries >= this.maxRetries) return 'give-up';
    this.retries++;
    this.resentWindows++;
    this.planFromFirstUnacked();
    return 'resend';
  }
}

/**
 * Delay before the next retransmission after `retries` timeouts without progress: doubling from
 * `baseMs`, capped. The backoff matters for clients that answer a repeated block with one extra
 * ACK only and restart their own timer on every packet (atftp): if that ACK is lost and we kept
 * resending faster than the client's timeout, neither side would ever recover. Growing past the
 * client's timeout (atftp 1-5 s, tftp-hpa 5 s) lets the client's timer fire and re-ACK.
 */
export function retransmitDelayMs(baseMs: number, retries: number, capMs = Math.max(baseMs, 6000)): number {
  return Math.min(baseMs * 2 ** Math.min(retries, 20), Math.max(capMs, baseMs));
}
