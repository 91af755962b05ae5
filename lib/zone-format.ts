// How the CLI and the web UI show a time: "2027-01-15 06:30:00 +01:00" in a zone, with its offset,
// whatever the reader's language. No imports: the browser bundle takes this module as it is.

/** `iso` as "2027-01-15 06:30:00 +01:00" in `zone` (null: this process's zone). */
export function formatInZone(iso: string | Date, zone: string | null): string {
  const t = typeof iso === 'string' ? new Date(iso) : iso;
  if (Number.isNaN(t.getTime())) return String(iso);
  const parts = new Intl.DateTimeFormat('en-US', {
    ...(zone ? { timeZone: zone } : {}),
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    timeZoneName: 'longOffset',
  }).formatToParts(t);
  const p = (type: Intl.DateTimeFormatPartTypes) => parts.find((x) => x.type === type)?.value ?? '';
  // longOffset is "GMT+01:00", or "GMT" for UTC itself.
  const offset = p('timeZoneName').replace(/^GMT/, '') || '+00:00';
  return `${p('year')}-${p('month')}-${p('day')} ${p('hour')}:${p('minute')}:${p('second')} ${offset}`;
}
