// Times the CLI reads and shows, in one zone per run: --tz when given, else the server's (from
// its health answer: the CLI may run elsewhere, and the server is where schedules run). Text output
// carries the offset ("2026-12-03 08:15:00 +01:00") so a time can be typed back as shown; JSON
// output keeps the API's ISO UTC.
import { formatInZone, hasOffset, isTimeZone, normalizeWallTime, processTimeZone, unknownZoneMessage, wallTimeInstant } from '../../lib/zoned-time.ts';
import { UsageError } from './command.ts';
import type { AdminClient } from './api-client.ts';

/** --tz checked here (one usage line), or null when not given. */
export function tzOption(value: string | undefined): string | null {
  if (value === undefined) return null;
  if (!isTimeZone(value)) throw new UsageError(unknownZoneMessage(value));
  return value;
}

/** The zone to show and read times in: --tz, else the server's, else (a server too old to say) this machine's. */
export async function displayZone(tz: string | undefined, api: AdminClient): Promise<string> {
  const given = tzOption(tz);
  if (given) return given;
  const server = await api.serverTimeZone();
  // A zone this CLI's Node does not know (older time zone data) cannot be shown: use this machine's.
  return server && isTimeZone(server) ? server : processTimeZone();
}

/** "2026-12-01", "2026-12-01 07:00" (wall time in `zone`) or an ISO time with offset, as an instant. */
export function readTime(text: string, zone: string, option: string): Date {
  const t = text.trim();
  if (hasOffset(t) && !Number.isNaN(Date.parse(t))) return new Date(t);
  const wall = normalizeWallTime(/^\d{4}-\d{2}-\d{2}$/.test(t) ? `${t} 00:00` : t);
  if (wall === null) throw new UsageError(`--${option} "${text}" is not a time like 2026-12-01, 2026-12-01 07:00 or an ISO time`);
  return wallTimeInstant(wall, zone);
}

/** An ISO time as shown in text output; null stays null (the table prints "-"). */
export function showTime(iso: string | null | undefined, zone: string): string | null {
  return iso ? formatInZone(iso, zone) : null;
}
