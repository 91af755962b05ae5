// Pure parsing for the shared-library walk: which sonames an ELF file needs (readelf -d output).
export function parseNeeded(readelfDynamic: string): string[] {
  const needed: string[] = [];
  for (const line of readelfDynamic.split('\n')) {
    const m = /\(NEEDED\)\s+Shared library: \[([^\]]+)\]/.exec(line);
    if (m?.[1]) needed.push(m[1]);
  }
  return needed;
}

/** Is this file an ELF object (by its first four bytes)? */
export function isElf(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c && head[3] === 0x46;
}
