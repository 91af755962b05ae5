// A list the API answers one page of (`limit`): the CLI asks for one row more than it shows, so
// it can say that the list was cut instead of showing 100 of a room's 150 PCs as if that were all.
import { UsageError } from './command.ts';

export interface Page {
  /** Rows shown. */
  limit: number;
  /** Rows asked for: one more, unless that passes the API's largest page. */
  ask: number;
  max: number;
}

/** --limit as given (a whole number from 1 to max), else the fallback. */
export function pageOf(given: string | undefined, fallback: number, max: number, what: string): Page {
  if (given !== undefined && (!/^\d+$/.test(given.trim()) || Number(given) < 1 || Number(given) > max)) throw new UsageError(`--limit takes a number of ${what} from 1 to ${max}, got "${given}"`);
  const limit = given === undefined ? fallback : Number(given);
  return { limit, ask: Math.min(max, limit + 1), max };
}

/** The rows to show, and a line saying the list goes on (null when it does not, or cannot be known to). */
export function cut<T>(rows: readonly T[], page: Page, what: { one: string; many: string }): { rows: T[]; more: string | null } {
  const shown = page.limit === 1 ? `the newest ${what.one}` : `the newest ${page.limit} ${what.many}`;
  if (rows.length > page.limit) return { rows: rows.slice(0, page.limit), more: `${shown} shown; there are more (--limit N, up to ${page.max})` };
  if (page.limit === page.max && rows.length === page.max) return { rows: [...rows], more: `the newest ${page.max} ${what.many} shown, the most one answer holds; there may be more` };
  return { rows: [...rows], more: null };
}
