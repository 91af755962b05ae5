// Which restore a chunked image gets when the target still holds the image's filesystem.
// Delta must read every used block (there is no change log), a full restore decompresses and
// writes them: which is quicker depends on the disk (docs/imaging.md "What delta costs"). On a
// disk that writes as fast as it reads, full wins; on one with slow writes, delta; delta always
// writes the least. `auto` decides from this PC's own master.log: the last delta's compare rate
// against the last full restore's write rate.

/** The restore_mode property of opsi-local-image-restore. */
export const RESTORE_MODES = ['auto', 'delta', 'full'] as const;
export type RestoreModeSetting = (typeof RESTORE_MODES)[number];

export interface PastRestore {
  mode: 'delta' | 'full';
  /** Bytes compared (delta) or written (full), per second of the whole restore. */
  bytesPerSecond: number;
}

const DONE = /\brestore done image=\S+ device=\S+ mode=(delta|full) chunks=\d+\/\d+ written=(\d+) compared=(\d+) seconds=([\d.]+)/;

/** The restores master.log records as done, oldest first (stream restores and failures are not rates). */
export function pastRestores(masterLog: string): PastRestore[] {
  const out: PastRestore[] = [];
  for (const line of masterLog.split('\n')) {
    const m = DONE.exec(line);
    if (!m) continue;
    const mode = m[1] as 'delta' | 'full';
    const bytes = Number(mode === 'delta' ? m[3] : m[2]);
    const seconds = Number(m[4]);
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
  return `restore_mode=auto: on this disk the last full restore wrote ${mb(full)} MB/s, the last delta compared ${mb(delta)} MB/s, so writing everything is quicker than reading it (restore_mode=delta writes only what differs)`;
}
