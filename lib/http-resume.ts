// Resumed downloads (HTTP Range): what may be done with the server's answer. A 206 is only the
// tail asked for when its Content-Range starts at the offset asked for (a proxy or a confused
// server may answer another range, and appending it would corrupt the file); a 200 is the whole
// file from byte 0 (the server ignored the Range, or If-Range found the file changed).
import { parseContentRange } from './upload-protocol.ts';

export type ResumeAnswer =
  /** A 206 covering the bytes from the offset on: append its body. */
  | { use: 'tail' }
  /** A 200: the whole file; start over at byte 0 with its body. */
  | { use: 'whole' }
  /** Not usable: `reason` says why (for the log or the error). */
  | { use: 'none'; reason: string };

/** How to use the answer to a GET for a file's bytes from `offset` on (a Range was asked when offset > 0, or always). Pure. */
export function resumeAnswer(status: number, contentRange: string | null, offset: number): ResumeAnswer {
  if (status === 200) return { use: 'whole' };
  if (status !== 206) return { use: 'none', reason: `HTTP ${status}` };
  const range = parseContentRange(contentRange ?? undefined);
  if (range?.start === offset) return { use: 'tail' };
  return { use: 'none', reason: `HTTP 206 for bytes ${range ? `${range.start}-${range.end}` : `"${contentRange ?? ''}"`}, not from byte ${offset} as asked` };
}
