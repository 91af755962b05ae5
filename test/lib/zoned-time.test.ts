// Wall times in IANA zones (lib/zoned-time.ts): what the CLI shows and what the server reads.
import test from 'ava';
import { formatInZone, hasOffset, isTimeZone, normalizeWallTime, timeZoneName, wallTimeInstant } from '../../lib/zoned-time.ts';

test('a time is shown in a zone with its offset, summer and winter, half-hour zones and UTC', (t) => {
  t.is(formatInZone('2027-01-15T05:30:00Z', 'Europe/Berlin'), '2027-01-15 06:30:00 +01:00');
  t.is(formatInZone('2027-07-15T04:30:00Z', 'Europe/Berlin'), '2027-07-15 06:30:00 +02:00');
  t.is(formatInZone('2027-01-15T05:30:00Z', 'Asia/Kolkata'), '2027-01-15 11:00:00 +05:30');
  t.is(formatInZone('2027-01-15T05:30:00Z', 'America/New_York'), '2027-01-15 00:30:00 -05:00');
  t.is(formatInZone('2027-01-15T05:30:00Z', 'UTC'), '2027-01-15 05:30:00 +00:00');
  t.is(formatInZone('not a time', 'UTC'), 'not a time');
});

test('wall times: typed forms are normalised, impossible dates refused; DST gaps move on, doubled hours take the first', (t) => {
  t.is(normalizeWallTime('2027-01-15 6:30'), '2027-01-15T06:30:00');
  t.is(normalizeWallTime(' 2027-01-15T06:30:15 '), '2027-01-15T06:30:15');
  for (const bad of ['2027-02-30 06:30', '2027-01-15 24:00', '2027-01-15', '2027-01-15T06:30:00Z', 'tomorrow 07:00']) t.is(normalizeWallTime(bad), null, bad);
  t.true(hasOffset('2027-01-15T06:30:00+01:00'));
  t.true(hasOffset('2027-01-15T06:30:00Z'));
  t.false(hasOffset('2027-01-15T06:30:00'));
  t.is(wallTimeInstant('2027-03-28T07:00:00', 'Europe/Berlin').toISOString(), '2027-03-28T05:00:00.000Z');
  t.is(wallTimeInstant('2027-03-28T02:30:00', 'Europe/Berlin').toISOString(), '2027-03-28T01:30:00.000Z');
  t.is(wallTimeInstant('2027-10-31T02:30:00', 'Europe/Berlin').toISOString(), '2027-10-31T00:30:00.000Z');
  t.is(wallTimeInstant('2027-03-14T02:30:00', 'America/New_York').toISOString(), '2027-03-14T07:30:00.000Z', 'the US gap: 03:30 EDT');
});

test('zones: IANA names pass, offsets and unknown names do not; the zod schema says which name is wrong', (t) => {
  for (const zone of ['Europe/Berlin', 'UTC', 'America/Argentina/Buenos_Aires']) t.true(isTimeZone(zone), zone);
  for (const zone of ['Mars/Olympus', '+01:00', '', 'Europe/Berlim']) t.false(isTimeZone(zone), zone);
  const r = timeZoneName.safeParse('Europe/Berlim');
  t.false(r.success);
  t.is(r.error?.issues[0]?.message, 'unknown time zone "Europe/Berlim" (an IANA name like Europe/Berlin)');
});
