// A client-given boot file name (TFTP request, HTTP URL path) -> safe path relative to the boot
// root, or a refusal with a reason. Pure. Both protocols go through this via source.ts.
//
// Decisions (see docs/tftp.md, "File names"):
// - A leading "/" (or several) means "the root": firmware and grub ask for "/grub/grub.cfg".
//   There is no way to name anything above the root.
// - "\" is a path separator (Windows-style loaders send "\Boot\x64\..."; dnsmasq does the same).
// - Any ".." segment is refused, even where it would stay inside the root ("a/../b"): no
//   legitimate loader needs it and refusing is simpler to reason about than resolving.
// - Names are served literally (TFTP has no URL encoding; HTTP decodes its URL once before this),
//   but a name whose percent-decoded form holds "..", a separator trick or a control char is
//   refused too, so no later layer that decodes (generated configs, logs) can be tricked by it.
// - Control chars (incl. NUL) and bytes >= 0x7f are refused: boot loaders only ask for ASCII.
// Symlinks are handled at open time (source.ts), where the real path is known.

export const DEFAULT_MAX_NAME_LENGTH = 255;

export type BootFileName = { ok: true; path: string } | { ok: false; reason: string };

function hasForbiddenChar(s: string): string | null {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20) return c === 0 ? 'NUL in name' : 'control character in name';
    if (c >= 0x7f) return 'non-ASCII character in name';
  }
  return null;
}

/** Segments of a name with "\" and "/" as separators; empty and "." segments dropped. */
function segmentsOf(name: string): string[] | { refused: string } {
  const out: string[] = [];
  for (const seg of name.split(/[\\/]/)) {
    if (seg === '' || seg === '.') continue;
    // "..", and Windows' equivalent spellings ("... ", ".. ", "..." are ".." to some filesystems).
    if (/^\.\.[. ]*$/.test(seg)) return { refused: 'parent-directory segment' };
    out.push(seg);
  }
  return out;
}

function percentDecoded(name: string): string | null {
  if (!name.includes('%')) return null;
  try {
    return decodeURIComponent(name);
  } catch {
    // Not valid percent-encoding: decode byte escapes individually so "%2e%2e%c0" is still seen.
    return name.replace(/%([0-9a-fA-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  }
}

export function normaliseBootFileName(raw: string, maxLength = DEFAULT_MAX_NAME_LENGTH): BootFileName {
  if (raw.length === 0) return { ok: false, reason: 'empty name' };
  if (raw.length > maxLength) return { ok: false, reason: `name longer than ${maxLength} bytes` };
  const bad = hasForbiddenChar(raw);
  if (bad) return { ok: false, reason: bad };

  const decoded = percentDecoded(raw);
  if (decoded !== null) {
    const badDecoded = hasForbiddenChar(decoded);
    if (badDecoded) return { ok: false, reason: `${badDecoded} (percent-encoded)` };
    const segs = segmentsOf(decoded);
    if (!Array.isArray(segs)) return { ok: false, reason: `${segs.refused} (percent-encoded)` };
  }

  const segs = segmentsOf(raw);
  if (!Array.isArray(segs)) return { ok: false, reason: segs.refused };
  if (segs.length === 0) return { ok: false, reason: 'names the root directory' };
  return { ok: true, path: segs.join('/') };
}
