// What `netimage room restore --follow` knows about each PC of the room: pure state from the job
// event stream, with the lines to show. The command does the I/O (stream, terminal).
import { progressBar, type JobLineEvent } from './format.ts';
import { FINAL_STATES } from './commands/jobs.ts';

export interface PcProgress {
  clientId: string;
  /** The job's state, or 'waiting' until the PC boots. */
  state: string;
  percent: number | null;
  message: string;
}

const ENDED_WORD: Readonly<Record<string, string>> = { failed: 'failed', cancelled: 'cancelled', exhausted: 'gave up' };
/** States in the order counts name them, and (lower first) which PCs a full terminal shows. */
const STATE_ORDER = ['failed', 'exhausted', 'cancelled', 'running', 'booting', 'waiting', 'succeeded'];
const rank = (state: string): number => {
  const i = STATE_ORDER.indexOf(state);
  return i < 0 ? STATE_ORDER.indexOf('running') : i;
};

export class RoomProgress {
  readonly #pcs = new Map<string, PcProgress>();
  readonly #productId: string;

  constructor(clientIds: readonly string[], productId: string) {
    this.#productId = productId;
    for (const id of clientIds) this.#pcs.set(id, { clientId: id, state: 'waiting', percent: null, message: 'waiting for the PC to boot from the network' });
  }

  /** Take one event; true when a PC's line changed (events of other PCs or products are ignored). */
  apply(e: JobLineEvent): boolean {
    if (e.kind === 'log') return false;
    return this.#update(e.clientId, e.productId, e.state, e.percent, e.message || null);
  }

  /**
   * After the stream was away (a server restart): each PC's newest job of this product as the
   * server lists it now. Returns the PCs whose line changed.
   */
  catchUp(jobs: readonly { clientId: string; productId: string; state: string; percent: number | null; error: string | null }[]): string[] {
    return jobs
      .filter((job) => {
        // A job waits in 'booting' until its PC boots: the line already says so.
        if (job.state === 'booting' && this.#pcs.get(job.clientId)?.state === 'waiting') return false;
        // Worded as the server words the event that ends a job (service/netboot.ts).
        const message = job.state === 'succeeded' ? 'succeeded' : job.error ? `${ENDED_WORD[job.state] ?? job.state}: ${job.error}` : null;
        return this.#update(job.clientId, job.productId, job.state, job.percent, message);
      })
      .map((job) => job.clientId);
  }

  /** One PC's new state (a null percent or message keeps the last one); true when its line changed. */
  #update(clientId: string, productId: string, state: string, percent: number | null, message: string | null): boolean {
    const pc = this.#pcs.get(clientId);
    // A PC that ended stays ended: a late event of that job must not reopen it.
    if (!pc || productId !== this.#productId || FINAL_STATES.has(pc.state)) return false;
    const next = { state, percent: state === 'succeeded' ? 100 : (percent ?? pc.percent), message: message ?? pc.message };
    if (next.state === pc.state && next.percent === pc.percent && next.message === pc.message) return false;
    Object.assign(pc, next);
    return true;
  }

  line(clientId: string): string {
    const pc = this.#pcs.get(clientId)!;
    const width = Math.max(...[...this.#pcs.keys()].map((k) => k.length));
    return `${pc.clientId.padEnd(width)}  ${pc.state.padEnd(9)} ${progressBar(pc.percent ?? 0)}  ${pc.message}`;
  }

  lines(): string[] {
    return [...this.#pcs.keys()].map((id) => this.line(id));
  }

  /** How many PCs are in each state: "3 running, 1 waiting, 26 succeeded" (states with none left out). */
  counts(pcs: readonly PcProgress[] = [...this.#pcs.values()]): string {
    const n = new Map<string, number>();
    for (const pc of pcs) n.set(pc.state, (n.get(pc.state) ?? 0) + 1);
    return [...n.entries()]
      .sort(([a], [b]) => rank(a) - rank(b))
      .map(([state, count]) => `${count} ${state}`)
      .join(', ');
  }

  /**
   * What a terminal of `rows` lines shows: the header, then one line per PC while they all fit.
   * A bigger room (30 PCs on a 24-line terminal) shows the PCs that need a look (failed, then
   * running, booting, waiting) and one line counting the rest; a terminal cuts a taller block at
   * the top, header first, so it never gets one.
   */
  frame(header: string, rows: number): string[] {
    const all = [...this.#pcs.values()];
    const room = Math.max(0, rows - 2); // the header, and the line the cursor waits on
    if (all.length <= room) return [header, ...this.lines()];
    if (room < 2) return [header];
    const shown = new Set(
      all
        .map((pc, i) => ({ pc, i }))
        .sort((a, b) => rank(a.pc.state) - rank(b.pc.state) || a.i - b.i)
        .slice(0, room - 1)
        .map(({ pc }) => pc.clientId),
    );
    const hidden = all.filter((pc) => !shown.has(pc.clientId));
    return [header, ...all.filter((pc) => shown.has(pc.clientId)).map((pc) => this.line(pc.clientId)), `… and ${hidden.length} more: ${this.counts(hidden)}`];
  }

  done(): boolean {
    return [...this.#pcs.values()].every((pc) => FINAL_STATES.has(pc.state));
  }

  summary(): { succeeded: string[]; failed: { clientId: string; state: string; error: string }[] } {
    const all = [...this.#pcs.values()];
    return {
      succeeded: all.filter((pc) => pc.state === 'succeeded').map((pc) => pc.clientId),
      failed: all.filter((pc) => pc.state !== 'succeeded').map((pc) => ({ clientId: pc.clientId, state: pc.state, error: pc.message })),
    };
  }
}

/** The closing lines: counts and time taken, then each failure with its last message (the error). */
export function summaryText(s: ReturnType<RoomProgress['summary']>, seconds: number): string {
  const head = `${s.succeeded.length} succeeded, ${s.failed.length} failed in ${formatDuration(seconds)}`;
  return [head, ...s.failed.map((f) => `  ${f.clientId}: ${f.error}`)].join('\n');
}

export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}
