// Operators' rooms are a JSON list in users.group_ids, not rows a foreign key keeps right: a room
// removed by a netimage before group rm took it from its operators stayed in their lists, shown
// in `user ls` and handed back to them when a room of that name was made again. Both backends
// drop such references when a store is opened (after its migrations), with this one function.
import type { Row } from './sql.ts';

/** The users whose stored room list names a room that does not exist, with the list they keep. */
export function danglingGroupFixes(users: readonly Row[], groupIds: readonly Row[]): { name: string; groups: string[] }[] {
  const exists = new Set(groupIds.map((r) => String(r['id'])));
  const fixes: { name: string; groups: string[] }[] = [];
  for (const u of users) {
    const groups = JSON.parse(String(u['group_ids'])) as string[];
    const kept = groups.filter((g) => exists.has(g));
    if (kept.length !== groups.length) fixes.push({ name: String(u['name']), groups: kept });
  }
  return fixes;
}

export const USERS_AND_GROUPS = { users: 'SELECT name, group_ids FROM users', groups: 'SELECT id FROM groups' } as const;
export const FIX_USER_GROUPS = 'UPDATE users SET group_ids = ?, modified = ? WHERE name = ?';
