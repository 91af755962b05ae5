// When schedules run. Pure: every function takes the time it reasons about, so the scheduler
// loop and the tests can drive it with any clock. Cron arithmetic (time zones, DST) is croner's,
// and so is a one-shot's: its wall time becomes an instant here, when the run is planned, not in
// the CLI that typed it (a CLI in another zone, or a zone whose rules changed, would be wrong).
import { Cron } from 'croner';
import { isTimeZone, unknownZoneMessage, wallTimeInstant } from '../../lib/zoned-time.ts';
import type { Schedule } from '../store/types.ts';
import { NetimageError } from '../../lib/errors.ts';

/** A time spec that cannot be used (HTTP 400). */
export class ScheduleSpecError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'ScheduleSpecError';
  }
}

const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const DAY_SETS: Record<string, string> = { daily: '*', 'every day': '*', weekdays: '1-5', weekends: '0,6' };

/**
 * The operator's short form as a cron expression: "weekdays 07:00" -> "0 7 * * 1-5",
 * "daily 18:30", "weekends 09:00", "mon,wed,fri 07:15", "friday 16:00".
 */
export function everyToCron(text: string): string {
  const m = /^\s*(.+?)\s+(\d{1,2}):(\d{2})\s*$/.exec(text.toLowerCase());
  if (!m) throw new ScheduleSpecError(`"${text}" is not "<days> HH:MM" (days: daily, weekdays, weekends, or names like mon,wed,fri)`);
  const hour = Number(m[2]);
  const minute = Number(m[3]);
  if (hour > 23 || minute > 59) throw new ScheduleSpecError(`"${m[2]}:${m[3]}" is not a time of day`);
  const daysText = m[1]!.trim();
  let days = DAY_SETS[daysText];
  if (days === undefined) {
    // "mon" or "monday" (any prefix of at least three letters).
    const numbers = daysText.split(/\s*,\s*/).map((n) => (n.length >= 3 ? DAY_NAMES.findIndex((d) => d.startsWith(n)) : -1));
    if (numbers.includes(-1)) throw new ScheduleSpecError(`unknown days "${daysText}": use daily, weekdays, weekends, or day names like mon,wed,fri`);
    days = numbers.join(',');
  }
  return `${minute} ${hour} * * ${days}`;
}

/** A checked time zone name (IANA), or null for the server's own. */
export function checkTimezone(zone: string | null): string | null {
  if (zone === null) return null;
  if (!isTimeZone(zone)) throw new ScheduleSpecError(unknownZoneMessage(zone));
  return zone;
}

function cronOf(expression: string, timezone: string | null): Cron {
  try {
    // paused: a pattern object only, never a timer.
    return new Cron(expression, { paused: true, ...(timezone ? { timezone } : {}) });
  } catch (error) {
    throw new ScheduleSpecError(`invalid cron expression "${expression}": ${(error as Error).message}`);
  }
}

/** Throws ScheduleSpecError when the expression or zone is unusable, or never fires. */
export function checkCron(expression: string, timezone: string | null, now: Date): void {
  checkTimezone(timezone);
  if (cronOf(expression, timezone).nextRun(now) === null) throw new ScheduleSpecError(`cron expression "${expression}" never fires`);
}

type Timing = Pick<Schedule, 'kind' | 'at' | 'cron' | 'timezone'> & { atLocal?: string | null };

/** When a one-shot is due: its wall time in its zone (null: the server's) as of now; a schedule from before wall times were kept has only the instant. */
export function onceInstant(schedule: Timing): Date {
  return schedule.atLocal ? wallTimeInstant(schedule.atLocal, schedule.timezone) : new Date(schedule.at!);
}

/** The first time strictly after `after` that the schedule is due; null when it never is again. */
export function nextRunAfter(schedule: Timing, after: Date): Date | null {
  if (schedule.kind === 'once') {
    const at = onceInstant(schedule);
    return at.getTime() > after.getTime() ? at : null;
  }
  return cronOf(schedule.cron!, schedule.timezone).nextRun(after);
}

export type DueDecision =
  | { kind: 'wait' }
  /** Run now (on time, or late within the run-once window). */
  | { kind: 'run'; due: Date; next: Date | null; late: boolean }
  /** Missed while the server was down and the policy says skip (or the window has passed). */
  | { kind: 'skip'; due: Date; next: Date | null; reason: string };

/**
 * What to do with one schedule at `now`. A run that came due before `startedAt` (the server was
 * down) follows the missed-run policy; one that came due while the server ran is on time, however
 * late the loop noticed. Several missed occurrences of a recurring schedule collapse into one
 * decision: `next` is the first occurrence after now.
 */
export function decideDue(schedule: Schedule, now: Date, startedAt: Date): DueDecision {
  if (!schedule.enabled || schedule.nextRun === null) return { kind: 'wait' };
  // A one-shot's instant is worked out again: the server's zone (timezone null) or the zone's
  // rules (a tzdata update) may have changed since the schedule was made.
  const due = schedule.kind === 'once' && schedule.atLocal ? onceInstant(schedule) : new Date(schedule.nextRun);
  if (due.getTime() > now.getTime()) return { kind: 'wait' };
  const next = schedule.kind === 'once' ? null : nextRunAfter(schedule, now);
  if (due.getTime() >= startedAt.getTime()) return { kind: 'run', due, next, late: false };
  const lateSeconds = Math.round((now.getTime() - due.getTime()) / 1000);
  if (schedule.missedPolicy === 'run-once' && lateSeconds <= schedule.lateWindowSeconds) return { kind: 'run', due, next, late: true };
  const reason =
    schedule.missedPolicy === 'skip'
      ? `missed while the server was down (due ${due.toISOString()}); policy skip`
      : `missed while the server was down (due ${due.toISOString()}); ${lateSeconds} s late is past the run-once window of ${schedule.lateWindowSeconds} s`;
  return { kind: 'skip', due, next, reason };
}
