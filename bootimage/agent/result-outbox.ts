// The final result survives network loss and agent restarts: it is written to every outbox path
// (RAM under /run/netimage, plus a product's backup partition when it offers one) before it is
// sent, and marked acknowledged only after the server accepted it.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { agentResult } from '../../lib/agent-protocol.ts';

export const outboxEntry = z.object({
  jobId: z.string(),
  /** Same shape the server gets; init reads "result" from this file for its console marker. */
  result: agentResult,
  acknowledged: z.boolean(),
  attempts: z.number().int().nonnegative(),
  lastError: z.string().optional(),
});
export type OutboxEntry = z.infer<typeof outboxEntry>;

export class ResultOutbox {
  readonly #paths: string[];

  constructor(paths: string[]) {
    this.#paths = [...paths];
  }

  get paths(): readonly string[] {
    return this.#paths;
  }

  /** Also keep the result at this path (e.g. on the disk's backup partition); written now if a result exists. */
  addPath(path: string): void {
    if (this.#paths.includes(path)) return;
    this.#paths.push(path);
    const current = this.load();
    if (current) this.#writeOne(path, current);
  }

  save(entry: OutboxEntry): void {
    const errors: string[] = [];
    for (const p of this.#paths) {
      try {
        this.#writeOne(p, entry);
      } catch (error) {
        errors.push(`${p}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    if (errors.length === this.#paths.length) throw new Error(`cannot persist the result anywhere: ${errors.join('; ')}`);
  }

  /** The first readable, valid entry (paths in order). */
  load(): OutboxEntry | null {
    for (const p of this.#paths) {
      try {
        const parsed = outboxEntry.safeParse(JSON.parse(readFileSync(p, 'utf8')));
        if (parsed.success) return parsed.data;
      } catch {
        // missing or unreadable: try the next copy
      }
    }
    return null;
  }

  #writeOne(path: string, entry: OutboxEntry): void {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(entry)}\n`);
    renameSync(tmp, path); // atomic: a reader never sees half a result
  }
}
