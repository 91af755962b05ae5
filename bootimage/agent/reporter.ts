// Batches the product's progress and log lines to the server (one POST per tick) and prints a
// readable line per event on the console. Unsent lines are kept (bounded) and go with the next batch.
import type { AgentProgress } from '../../lib/agent-protocol.ts';

export interface ReporterOptions {
  send: (batch: AgentProgress) => Promise<void>;
  console: (line: string) => void;
  flushMs?: number;
  /** Lines per POST (the schema allows 1000). */
  maxBatch?: number;
  /** Unsent lines kept while the server is unreachable; older ones are dropped (the full log still has them). */
  maxPending?: number;
  /** Called when a batch fails (for the local log; not sent). */
  onSendError?: (error: unknown) => void;
}

export class Reporter {
  readonly #o: Required<Omit<ReporterOptions, 'onSendError'>> & Pick<ReporterOptions, 'onSendError'>;
  #pendingLines: string[] = [];
  #percent: number | undefined;
  #message: string | undefined;
  #dirty = false;
  #dropped = 0;
  #full: string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failures = 0;

  constructor(options: ReporterOptions) {
    this.#o = { flushMs: 1000, maxBatch: 500, maxPending: 5000, ...options };
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.flush(), this.#o.flushMs);
    this.#timer.unref?.();
  }

  log(line: string): void {
    const stamped = `${new Date().toISOString()} ${line}`;
    this.#full.push(stamped);
    this.#o.console(`netimage:   ${line}`);
    this.#pendingLines.push(line.slice(0, 4000));
    if (this.#pendingLines.length > this.#o.maxPending) {
      const over = this.#pendingLines.length - this.#o.maxPending;
      this.#pendingLines.splice(0, over);
      this.#dropped += over;
    }
    this.#dirty = true;
  }

  progress(percent: number, message?: string): void {
    const p = Math.max(0, Math.min(100, Math.round(percent * 10) / 10));
    if (p === this.#percent && message === this.#message) return;
    this.#percent = p;
    if (message !== undefined) this.#message = message.slice(0, 500);
    this.#full.push(`${new Date().toISOString()} progress ${p}%${message ? ` ${message}` : ''}`);
    this.#o.console(`netimage: [${p.toFixed(0).padStart(3)}%] ${this.#message ?? ''}`);
    this.#dirty = true;
  }

  /** Everything logged, with timestamps, for the final upload. */
  fullLog(): string {
    return `${this.#full.join('\n')}\n`;
  }

  get failures(): number {
    return this.#failures;
  }

  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    if (!this.#dirty) return Promise.resolve();
    this.#flushing = (async () => {
      const lines = this.#pendingLines.splice(0, this.#o.maxBatch);
      if (this.#dropped > 0) {
        lines.unshift(`(${this.#dropped} log lines dropped while the server was unreachable)`);
      }
      const batch: AgentProgress = {};
      if (this.#percent !== undefined) batch.percent = this.#percent;
      if (this.#message !== undefined) batch.message = this.#message;
      if (lines.length) batch.log = lines;
      this.#dirty = this.#pendingLines.length > 0;
      try {
        await this.#o.send(batch);
        this.#dropped = 0;
      } catch (error) {
        this.#failures++;
        // Put the lines back in front; the dropped-lines note is re-added on the next try.
        this.#pendingLines.unshift(...lines.filter((l) => !l.startsWith('(') || !l.includes('log lines dropped')));
        this.#dirty = true;
        this.#o.onSendError?.(error);
      } finally {
        this.#flushing = undefined;
      }
    })();
    return this.#flushing;
  }

  /** Stop the timer and try to deliver what is left (a few times; progress is not worth blocking the result). */
  async close(attempts = 3, gapMs = 500): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    for (let i = 0; i < attempts && this.#dirty; i++) {
      await this.flush();
      if (this.#dirty) await new Promise((r) => setTimeout(r, gapMs));
    }
  }
}
