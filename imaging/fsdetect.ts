// What is on a partition, and may it be imaged? blkid -p (probe the device itself, not a
// cache), then NTFS state via ntfs-3g.probe: a hibernated or uncleanly shut down Windows
// volume would be imaged inconsistently, so it is refused with the reason and the fix.
import { runAllowFailure } from '../lib/process.ts';
import { ImagingError } from './errors.ts';
import { partcloneToolFor } from './partclone.ts';

export interface ProbeResult {
  /** blkid TYPE, or null when no filesystem signature was found. */
  type: string | null;
  label: string | null;
  uuid: string | null;
  raw: Record<string, string>;
}

export function parseBlkidExport(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
  }
  return out;
}

export async function probeFilesystem(devPath: string): Promise<ProbeResult> {
  // blkid exits 0 even when only the partition entry is left, and 2 when nothing is found: TYPE= decides.
  const r = await runAllowFailure('blkid', ['-p', '-o', 'export', devPath]);
  const raw = parseBlkidExport(r.stdout);
  return { type: raw['TYPE'] ?? null, label: raw['LABEL'] ?? null, uuid: raw['UUID'] ?? null, raw };
}

const NTFS_PROBE: Record<number, string> = {
  12: 'it does not hold a valid NTFS',
  13: 'NTFS is inconsistent (run chkdsk /f in Windows)',
  14: 'Windows is hibernated or shut down with Fast Startup: boot Windows and shut it down with "shutdown /s /t 0" (or disable Fast Startup / "powercfg /h off")',
  15: 'NTFS was not cleanly unmounted: boot Windows and shut it down cleanly (Fast Startup off), or run chkdsk /f',
  16: 'the volume is in use',
};

/** Check that a partition can be imaged; returns its fs type and partclone tool, or throws ImagingError. */
export async function checkImageable(devPath: string): Promise<{ fsType: string; tool: string }> {
  const probe = await probeFilesystem(devPath);
  if (!probe.type) throw new ImagingError(`${devPath} has no filesystem (blkid found no TYPE): nothing to back up`);
  if (probe.type === 'BitLocker')
    throw new ImagingError(`${devPath} is BitLocker-encrypted: a partition image of it would be unusable; suspend/decrypt BitLocker in Windows (manage-bde -off C:) before backup`);
  const tool = partcloneToolFor(probe.type);
  if (!tool) throw new ImagingError(`${devPath} holds ${probe.type}, which partclone cannot image here`);
  if (probe.type === 'ntfs') {
    const r = await runAllowFailure('ntfs-3g.probe', ['--readwrite', devPath]);
    if (r.exitCode !== 0) {
      const why = NTFS_PROBE[r.exitCode] ?? `ntfs-3g.probe exit ${r.exitCode}`;
      throw new ImagingError(`refusing to back up ${devPath}: ${why} (${r.stderr.trim().split('\n')[0] ?? ''})`);
    }
  }
  return { fsType: probe.type, tool };
}
