// What the server answered, counted by its own request counter (/metrics): UI tests assert how
// many requests a dialog costs without a proxy in front of the browser.
import type { TestServer } from '../../helpers/server.ts';

/** Requests answered so far, by "METHOD route" (route templates, e.g. /api/v1/clients/:id/images). */
export async function served(ts: TestServer): Promise<Map<string, number>> {
  const text = await (await fetch(`${ts.url}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const m of text.matchAll(/^netimage_http_requests_total\{([^}]*)\} (\d+)/gm)) {
    const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(m[1]!)?.[1] ?? '';
    const key = `${label('method')} ${label('route')}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(m[2]));
  }
  return counts;
}

/** The routes answered between two counts, with how many times each. */
export function servedBetween(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...after].filter(([k, v]) => v - (before.get(k) ?? 0) > 0).map(([k, v]) => [k, v - (before.get(k) ?? 0)]));
}
