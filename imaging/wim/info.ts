// What `wimlib-imagex info <wim>` prints, parsed: the file header block, then one block per image.
// Pure. The text form is parsed rather than `--xml` because it already carries wimlib's
// decoding of the WIM's UTF-16LE XML (names, languages, versions) and needs no XML parser here.
import { ImagingError } from '../errors.ts';

export interface WimImage {
  index: number;
  name: string;
  description: string;
  /** Windows images only (from the image's WINDOWS element); null for other captures. */
  edition: string | null;
  productName: string | null;
  architecture: string | null;
  /** "10.0.22621" from major.minor.build; null when the WIM has no version. */
  version: string | null;
  languages: string[];
  defaultLanguage: string | null;
  totalBytes: number;
  fileCount: number;
  directoryCount: number;
}

export interface WimInfo {
  imageCount: number;
  compression: string;
  sizeBytes: number;
  bootIndex: number;
  images: WimImage[];
}

/** "Key:   value" lines of one block into a map (the first ':' separates; values may hold ':'). */
function fields(block: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of block.split('\n')) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    m.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return m;
}

function int(m: Map<string, string>, key: string, where: string): number {
  const raw = m.get(key);
  const n = raw === undefined ? NaN : Number(raw.split(/\s/)[0]);
  if (!Number.isSafeInteger(n)) throw new ImagingError(`wimlib-imagex info: ${where} has no valid "${key}" (${raw ?? 'missing'})`);
  return n;
}

const orNull = (s: string | undefined) => (s === undefined || s === '' ? null : s);

export function parseWimInfo(text: string): WimInfo {
  const [head, ...rest] = text.split(/^Available Images:\s*\n-+\s*$/m);
  if (head === undefined || rest.length !== 1) throw new ImagingError('wimlib-imagex info: unexpected output (no "Available Images" section)');
  const h = fields(head);
  const images = rest[0]!
    // Blocks start at "Index:" (blank lines between them may be gone: progress-line splitting drops them).
    .split(/^(?=Index:)/m)
    .map((b) => b.trim())
    .filter((b) => b.startsWith('Index:'))
    .map((b): WimImage => {
      const m = fields(b);
      const index = int(m, 'Index', 'an image');
      const where = `image ${index}`;
      const major = m.get('Major Version');
      const version = major === undefined ? null : [major, m.get('Minor Version') ?? '0', m.get('Build') ?? '0'].join('.');
      return {
        index,
        name: m.get('Name') ?? '',
        description: m.get('Description') ?? '',
        edition: orNull(m.get('Edition ID')),
        productName: orNull(m.get('Product Name')),
        architecture: orNull(m.get('Architecture')),
        version,
        languages: (m.get('Languages') ?? '').split(/\s+/).filter((s) => s !== ''),
        defaultLanguage: orNull(m.get('Default Language')),
        totalBytes: int(m, 'Total Bytes', where),
        fileCount: int(m, 'File Count', where),
        directoryCount: int(m, 'Directory Count', where),
      };
    });
  const imageCount = int(h, 'Image Count', 'the header');
  if (images.length !== imageCount) throw new ImagingError(`wimlib-imagex info: header says ${imageCount} images, found ${images.length}`);
  return { imageCount, compression: h.get('Compression') ?? '', sizeBytes: int(h, 'Size', 'the header'), bootIndex: int(h, 'Boot Index', 'the header'), images };
}

/** One job-log line per image, e.g. `1: "Windows 11 Pro" Professional x86_64 10.0.22621 de-DE 15.2 GiB`. */
export function describeImage(i: WimImage): string {
  const gib = (i.totalBytes / 1024 ** 3).toFixed(1);
  const parts = [`${i.index}: "${i.name}"`, i.edition, i.architecture, i.version, i.languages.join(',') || null, `${gib} GiB`];
  return parts.filter((p) => p !== null).join(' ');
}
