// Which restore a chunked image gets when the target still holds the image's filesystem.
// Delta reads the used blocks the file system cannot vouch for (ext2/3/4 with inode records:
// few; NTFS or `compare`: all of them), a full restore decompresses and writes them all: which is
// quicker depends on the disk and on what it could skip (docs/imaging.md "What delta costs").
// `auto` decides from this PC's own master.log: the last delta's rate over the used bytes it
// covered (compared + trusted unread) against the last full restore's write rate.

/** The restore_mode property of opsi-local-image-restore. */
export const RESTORE_MODES = ['auto', 'delta', 'compare', 'full'] as const;
export type RestoreModeSetting = (typeof RESTORE_MODES)[number];

/**
 * The pagefile property of opsi-local-image-restore. `restore` (default): every used cluster ends
 * as a full restore's. `skip` (a delta with the file system's records): NTFS's pagefile.sys /
 * swapfile.sys, or an ext2/3/4 swap file that was plain swap (SWAPSPACE2) at backup, are left as
 * they are on the disk (but their first MiB, where a crash dump header or the swap header sits)
 * when their clusters are still the ones they had at backup: neither Windows nor Linux reads an
 * old session's paging content back after a boot.
 */
export const PAGEFILE_SETTINGS = ['restore', 'skip'] as const;
export type PagefileSetting = (typeof PAGEFILE_SETTINGS)[number];

export interface PastRestore {
  mode: 'delta' | 'full';
  /** Used bytes covered (delta: compared + trusted unread) or written (full), per second of the whole restore. */
  bytesPerSecond: number;
}

const DONE = /\brestore done image=\S+ device=\S+ mode=(delta|full) chunks=\d+\/\d+ written=(\d+) compared=(\d+)(?: trusted=\d+ trustedBytes=(\d+))? seconds=([\d.]+)/;

/** The restores master.log records as done, oldest first (stream restores and failures are not rates). */
export function pastRestores(masterLog: string): PastRestore[] {
  const out: PastRestore[] = [];
  for (const line of masterLog.split('\n')) {
    const m = DONE.exec(line);
    if (!m) continue;
    const mode = m[1] as 'delta' | 'full';
    const bytes = mode === 'delta' ? Number(m[3]) + Number(m[4] ?? 0) : Number(m[2]);
    const seconds = Number(m[5]);
    // A restore of a few MiB says nothing about the disk's rate.
    if (seconds <= 0 || bytes < 64 * 1024 * 1024) continue;
    out.push({ mode, bytesPerSecond: bytes / seconds });
  }
  return out;
}

/**
 * For `auto` on a target that qualifies for delta: the reason to restore in full instead, or
 * null for delta. Delta is the default until both kinds have run on this disk; then the one
 * whose last run moved the used bytes faster wins (delta's rate includes its writes, so a
 * tie goes to delta: it writes least).
 */
export function preferFullByHistory(history: PastRestore[]): string | null {
  const last = (mode: 'delta' | 'full') => history.filter((r) => r.mode === mode).at(-1);
  const delta = last('delta');
  const full = last('full');
  if (!delta || !full) return null;
  if (full.bytesPerSecond <= delta.bytesPerSecond) return null;
  const mb = (r: PastRestore) => (r.bytesPerSecond / 1e6).toFixed(0);
  return `restore_mode=auto: on this disk the last full restore wrote ${mb(full)} MB/s, the last delta covered ${mb(delta)} MB/s (compared + trusted unread), so writing everything is quicker (restore_mode=delta writes only what differs)`;
}

const RESTORE_EVENT = /\brestore (start|done|FAILED) image=\S+ device=(\S+)/;
const PART = / part=([0-9a-z-]+)/;

/** Where a restore writes: the device path and, when it has one, its partition entry's id (identity.ts partitionEntryUuid). */
export interface RestoreTarget {
  device: string;
  partition: string | null;
}

/** The master.log words that name a restore's target (the end of its start and done lines). */
export function targetWords(target: RestoreTarget): string {
  return target.partition ? ` part=${target.partition}` : '';
}

/**
 * Why the target's inode records cannot be trusted because of netimage itself: the last restore
 * to this partition that started did not end with "restore done" (killed, power cut, a damaged
 * chunk). Its writes went under the file system: an inode table chunk may already be the image's
 * while the data it describes is not, so the records could vouch for blocks that differ. Null:
 * the last restore here finished (or there was none). Lines that both name a partition entry
 * match by it (a device path can name another disk next boot); else by the device path.
 */
export function unfinishedRestore(masterLog: string, target: RestoreTarget): string | null {
  let pending: string | null = null;
  for (const line of masterLog.split('\n')) {
    const m = RESTORE_EVENT.exec(line);
    if (!m) continue;
    const part = m[1] === 'FAILED' ? null : (PART.exec(line)?.[1] ?? null);
    const same = part && target.partition ? part === target.partition : m[2] === target.device;
    if (!same) continue;
    if (m[1] === 'start') pending = line.slice(0, 24);
    else if (m[1] === 'done') pending = null;
    // FAILED after a start: its writes may be partial; the start stays pending.
  }
  return pending ? `the restore to ${target.device} started ${pending.trim()} did not finish, so blocks may have been written under the file system` : null;
}
