// The CLI's help text, made from the command groups' usage lines so it cannot drift from them. Pure.
import { SECTIONS, usageText, type CommandGroup, type UsageLine } from './command.ts';

/** Column where the one-line summaries start (after two spaces of indent). */
const SUMMARY_COLUMN = 43;

function helpLine(line: UsageLine): string {
  const text = usageText(line);
  if (!line.summary) return `  ${text}`;
  return `  ${text.padEnd(SUMMARY_COLUMN)}${text.length >= SUMMARY_COLUMN ? '   ' : ' '}${line.summary}`;
}

export function helpText(version: string, groups: readonly CommandGroup[]): string {
  const parts = [`netimage ${version}: netboot and local-image appliance`];
  for (const [section, heading] of Object.entries(SECTIONS)) {
    const lines = groups.filter((g) => g.section === section).flatMap((g) => g.usage.map(helpLine));
    if (lines.length) parts.push(`${heading}:\n${lines.join('\n')}`);
  }
  parts.push("Times: shown in the server's time zone with the offset, and read in it where typed without one;\n--tz ZONE (audit, client, depot, images, jobs, os, schedule) shows and reads them in another. --json: ISO UTC.");
  parts.push('Config: /etc/netimage/netimage.yaml or --config FILE, overridden by NETIMAGE_* variables\n(see docs/configuration.md).');
  return parts.join('\n\n');
}

/** `netimage <group> --help`: that group's lines only. */
export function groupHelp(group: CommandGroup): string {
  return group.usage.map(helpLine).join('\n');
}
