// Wall times in IANA time zones: what an admin types ("2027-03-28 07:00" in Europe/Berlin) and
// what the CLI shows. The zone arithmetic (offsets, DST gaps and overlaps) is croner's, the same
// library that plans the recurring schedules, so a one-shot and a cron schedule of one zone agree.
// Pure: no clock, no process zone unless `null` asks for it.
import { Cron } from 'croner';
import { z } from 'zod';

// The formatter has no dependencies: the web UI's bundle takes it from there without croner or zod.
export { formatInZone } from './zone-format.ts';

/** "2027-01-15 06:30", "2027-01-15T06:30:00": a date and time without offset. */
const WALL = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$/;
/** An ISO time that names its instant (Z or an offset). */
const WITH_OFFSET = /(Z|[+-]\d{2}:?\d{2})$/i;

/** The zone this process runs in (TZ, else the system's): the server's zone for a schedule without one. */
export function processTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

/** Whether `zone` is an IANA zone name this Node knows (offsets like "+01:00" are not zones: they have no DST rules). */
export function isTimeZone(zone: string): boolean {
  if (!/^[A-Za-z]/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

export const unknownZoneMessage = (zone: string) => `unknown time zone "${zone}" (an IANA name like Europe/Berlin)`;

/** An IANA zone name, checked at the API's edge. */
export const timeZoneName = z
  .string()
  .max(64)
  .refine(isTimeZone, { error: (issue) => unknownZoneMessage(String(issue.input)) });

export function hasOffset(text: string): boolean {
  return WITH_OFFSET.test(text.trim());
}

/** "2027-01-15 06:30" -> "2027-01-15T06:30:00"; null when it is not a wall time (or not a calendar date). */
export function normalizeWallTime(text: string): string | null {
  const m = WALL.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m;
  const wall = `${y}-${mo}-${d}T${h!.padStart(2, '0')}:${mi}:${s ?? '00'}`;
  // Date.UTC rolls Feb 30 into March: compare to catch dates that do not exist.
  const t = new Date(`${wall}Z`);
  if (Number.isNaN(t.getTime()) || t.toISOString().slice(0, 19) !== wall) return null;
  return wall;
}

/**
 * The instant of wall time `wall` ("YYYY-MM-DDTHH:MM:SS") in `zone` (null: this process's zone).
 * A time in a spring-forward gap is moved on by the gap (02:30 on the day Berlin skips to 03:00
 * runs at 03:30); a time an autumn night has twice is the first of them.
 */
export function wallTimeInstant(wall: string, zone: string | null): Date {
  // paused: a pattern object only, never a timer. Epoch: any time before the one asked for.
  const next = new Cron(wall, { paused: true, ...(zone ? { timezone: zone } : {}) }).nextRun(new Date(0));
  if (!next) throw new Error(`no instant for ${wall} in ${zone ?? 'the local zone'}`);
  return next;
}

