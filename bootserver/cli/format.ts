// Plain-text tables and job lines for the terminal. Pure.
import { formatInZone } from '../../lib/zoned-time.ts';

export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined || c === '' ? '-' : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

export interface JobLineEvent {
  ts: string;
  clientId: string;
  productId: string;
  state: string;
  kind: string;
  percent: number | null;
  message: string;
}

export function progressBar(percent: number, width = 20): string {
  const p = Math.max(0, Math.min(100, percent));
  const filled = Math.round((p / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.toFixed(0).padStart(3)}%`;
}

/** One line of `jobs --follow`; the time of day in `zone` (UTC when none is given). */
export function jobEventLine(e: JobLineEvent, zone: string = 'UTC'): string {
  const time = formatInZone(e.ts, zone).slice(11, 19);
  const pct = e.percent === null ? '' : progressBar(e.percent) + ' ';
  const tag = e.kind === 'log' ? 'log' : e.state;
  return `${time}  ${e.clientId.padEnd(14)} ${e.productId.padEnd(28)} ${tag.padEnd(9)} ${pct}${e.message}`;
}
