// Size properties as opsi writes them: "30G", "30GB", "500M", "100%", "0G".
// Units are binary (G = GiB) because partitions are laid out in MiB steps anyway;
// a percent is of the whole disk.
import { NetimageError } from './errors.ts';

export type SizeSpec = { kind: 'bytes'; bytes: number } | { kind: 'percent'; percent: number };

export class SizeError extends NetimageError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'SizeError';
  }
}

const UNIT: Record<string, number> = {
  '': 1,
  B: 1,
  K: 1024,
  KB: 1024,
  KIB: 1024,
  M: 1024 ** 2,
  MB: 1024 ** 2,
  MIB: 1024 ** 2,
  G: 1024 ** 3,
  GB: 1024 ** 3,
  GIB: 1024 ** 3,
  T: 1024 ** 4,
  TB: 1024 ** 4,
  TIB: 1024 ** 4,
};

/** Parse one size property value; `what` names the property in the error. */
export function parseSize(value: string, what = 'size'): SizeSpec {
  const text = value.trim().replace(/\s+/g, '');
  const m = /^(\d+(?:[.,]\d+)?)(%|[A-Za-z]*)$/.exec(text);
  if (!m) throw new SizeError(`${what}: "${value}" is not a size (use e.g. 30G, 30GB, 500M, 100%)`);
  const num = Number((m[1] ?? '').replace(',', '.'));
  const unit = (m[2] ?? '').toUpperCase();
  if (!Number.isFinite(num)) throw new SizeError(`${what}: "${value}" is not a number`);
  if (unit === '%') {
    if (num > 100) throw new SizeError(`${what}: ${num}% is more than 100%`);
    return { kind: 'percent', percent: num };
  }
  const factor = UNIT[unit];
  if (factor === undefined) throw new SizeError(`${what}: unknown unit "${m[2]}" in "${value}" (use K, M, G, T or %)`);
  if (unit === '' && num !== 0) throw new SizeError(`${what}: "${value}" has no unit (use e.g. 30G or 500M)`);
  const bytes = Math.round(num * factor);
  if (!Number.isSafeInteger(bytes)) throw new SizeError(`${what}: "${value}" is too large`);
  return { kind: 'bytes', bytes };
}

/** Resolve a size against a disk of diskBytes. */
export function resolveSize(spec: SizeSpec, diskBytes: number): number {
  return spec.kind === 'bytes' ? spec.bytes : Math.floor((diskBytes * spec.percent) / 100);
}

// In lib/ since the CLI shows image sizes too; imaging's modules import it from here as before.
export { formatBytes } from '../lib/bytes.ts';
