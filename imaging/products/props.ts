// Reading opsi property values (strings, booleans or lists) from the job.
import type { AgentJob } from '../../lib/agent-protocol.ts';
import type { ProductContext } from '../../lib/netboot-product.ts';
import type { FlowContext } from '../flows.ts';
import { parseDiskHints } from '../hints.ts';

export function propString(job: AgentJob, name: string, fallback = ''): string {
  const v = job.properties[name];
  if (v === undefined) return fallback;
  if (Array.isArray(v)) return v[0] ?? fallback;
  return String(v);
}

export function propList(job: AgentJob, name: string): string[] {
  const v = job.properties[name];
  if (v === undefined || v === '' || v === false) return [];
  if (Array.isArray(v)) return v.filter((s) => s.trim() !== '');
  return String(v)
    .split(/[\s,]+/)
    .filter((s) => s !== '');
}

export function propBool(job: AgentJob, name: string, fallback: boolean): boolean {
  const v = job.properties[name];
  if (v === undefined) return fallback;
  const s = Array.isArray(v) ? (v[0] ?? '') : String(v);
  return /^(true|1|yes|on)$/i.test(s.trim());
}

/** Test-only knobs (loop devices, restricted disk list); the registered products use none. */
export type FlowOverrides = Pick<FlowContext, 'allowLoop' | 'devices'>;

/** The engine's context for a product run: real disks, no loop devices, hints from `disk_hints`. */
export function flowContext(ctx: ProductContext, span: { from: number; to: number }, overrides: FlowOverrides = {}): FlowContext {
  return {
    log: (l) => ctx.log(l),
    progress: (p, m) => ctx.progress(span.from + ((span.to - span.from) * p) / 100, m),
    signal: ctx.signal,
    allowLoop: false,
    hints: parseDiskHints(propString(ctx.job, 'disk_hints')),
    ...overrides,
  };
}
