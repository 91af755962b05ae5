// Pure logic for choosing kernel modules: parse modules.dep and close a wanted set over it.
// Module names compare with '-' and '_' as equal (the kernel does the same).

export type ModulesDep = Map<string, { path: string; deps: string[] }>;

export function moduleName(path: string): string {
  const base = path.split('/').pop() ?? path;
  return base.replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/** modules.dep lines: `kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko ...` */
export function parseModulesDep(text: string): ModulesDep {
  const map: ModulesDep = new Map();
  for (const line of text.split('\n')) {
    const idx = line.indexOf(':');
    if (idx <= 0) continue;
    const path = line.slice(0, idx).trim();
    const deps = line.slice(idx + 1).trim().split(/\s+/).filter(Boolean);
    map.set(moduleName(path), { path, deps });
  }
  return map;
}

/** modules.softdep lines: `softdep ext4 pre: crc32c` -> extra modules loaded with ext4. */
export function parseSoftdeps(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^softdep\s+(\S+)\s+(.*)$/.exec(line.trim());
    if (!m?.[1] || m[2] === undefined) continue;
    const names = m[2].split(/\s+/).filter((w) => w && !w.endsWith(':')).map((w) => w.replace(/-/g, '_'));
    map.set(m[1].replace(/-/g, '_'), names);
  }
  return map;
}

export interface ModuleClosure {
  /** Relative paths (as in modules.dep) of every module to ship. */
  paths: string[];
  /** Wanted names that are neither modules nor built in (reported, not fatal). */
  missing: string[];
}

/** Every wanted module plus its hard and soft dependencies; names built into the kernel need nothing. */
export function closeModules(
  wanted: readonly string[],
  dep: ModulesDep,
  builtin: ReadonlySet<string>,
  softdeps: ReadonlyMap<string, string[]> = new Map(),
): ModuleClosure {
  const paths = new Set<string>();
  const missing: string[] = [];
  const seen = new Set<string>();
  const visit = (raw: string, required: boolean): void => {
    const name = raw.replace(/-/g, '_');
    if (seen.has(name)) return;
    seen.add(name);
    const entry = dep.get(name);
    if (!entry) {
      if (required && !builtin.has(name)) missing.push(name);
      return;
    }
    paths.add(entry.path);
    for (const d of entry.deps) visit(moduleName(d), true);
    for (const s of softdeps.get(name) ?? []) visit(s, false);
  };
  for (const w of wanted) visit(w, true);
  return { paths: [...paths].sort(), missing };
}

/** Names from modules.builtin (paths like kernel/drivers/block/loop.ko). */
export function parseBuiltin(text: string): Set<string> {
  return new Set(text.split('\n').filter(Boolean).map(moduleName));
}
