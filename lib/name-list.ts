// PC names in one line, for the CLI and the web UI alike.

/**
 * All of a classroom's names, the first `max` of a bigger set and how many more (a line of 500
 * names reads as nothing; `netimage client list --group` and the room view list them all).
 */
export function nameList(names: readonly string[], max = 20): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}
