// The images (editions) of a WIM or ESD as the depot records them in an entry's meta: index and
// name from `wimlib-imagex info` (wimtools). The agent's full parser (imaging/wim/info.ts) is on
// a sibling layer; the depot needs only these two fields.
import { execa } from 'execa';
import { DepotError } from './depot.ts';

export interface WimEdition {
  index: number;
  name: string;
}

/** "Index:" / "Name:" pairs of `wimlib-imagex info` text, in order. Pure. */
export function parseEditions(text: string): WimEdition[] {
  const out: WimEdition[] = [];
  for (const line of text.split('\n')) {
    const m = /^(Index|Name):\s*(.*?)\s*$/.exec(line);
    if (m?.[1] === 'Index') out.push({ index: Number(m[2]), name: '' });
    else if (m && out.length && out.at(-1)!.name === '') out.at(-1)!.name = m[2]!;
  }
  return out;
}

export async function wimEditions(file: string): Promise<WimEdition[]> {
  const r = await execa('wimlib-imagex', ['info', file], { reject: false, env: { LC_ALL: 'C.UTF-8' } });
  if (r.exitCode !== 0) throw new DepotError(`${file} is not a readable WIM: ${r.stderr.trim() || `wimlib-imagex exit ${r.exitCode}`}`, undefined, 'invalid');
  return parseEditions(r.stdout);
}
